//! Gateways as processes of the built binary (`CARGO_BIN_EXE_anteroom-gateway`), on an
//! ephemeral port read from their JSON log line `gateway listening`.

use super::Stack;
use std::path::Path;
pub(crate) use testkit::process::GatewayProcess;

impl Stack {
    /// Starts a gateway process with this stack's settings plus `extra` environment
    /// variables (`ANTEROOM_*`); waits until it listens.
    pub(crate) fn spawn_process(&self, extra: &[(&str, String)]) -> GatewayProcess {
        let bin = Path::new(env!("CARGO_BIN_EXE_anteroom-gateway"));
        GatewayProcess::spawn(bin, &self.settings, extra)
    }
}

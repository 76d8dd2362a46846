//! Test support shared by the gateway's and the worker's integration tests and by the
//! fault run.
//!
//! - [`services`]: where the loopback PostgreSQL, Redis and RabbitMQ are, and the
//!   `TEST_LOG` switch for the services' logs;
//! - [`db`]: a fresh PostgreSQL database per test (the worker migrates it when it starts);
//! - [`stack`]: an isolated deployment in this process (own database, Redis key prefix and
//!   AMQP names; workers and gateways as in-process applications), deleted on drop;
//! - [`process`]: the built binaries as child processes (environment, ports, readiness);
//! - [`proxy`]: a TCP proxy that cuts, refuses or freezes the way to a service;
//! - [`cleanup`]: best-effort deletion of what a test declared, even after a panic;
//! - [`eventually`]: waiting for a condition with a deadline instead of a fixed sleep.

pub mod cleanup;
pub mod db;
pub mod process;
pub mod proxy;
pub mod services;
pub mod stack;

pub use proxy::Proxy;
pub use services::{
    amqp_ca_file, amqp_connect, amqp_url, init_tracing, maintenance_db_url, redis_conn,
    redis_is_cluster, redis_settings, redis_url,
};
pub use stack::Deployment;

use std::future::Future;
use std::time::Duration;

/// Polls `probe` every `every` until it returns `Some`, and returns that value.
///
/// # Panics
/// After `deadline` without `Some`, with a message naming `what`.
pub async fn eventually<T, F, Fut>(
    every: Duration,
    deadline: Duration,
    what: &str,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// `bytes` random bytes as lowercase hex (`2 * bytes` characters): keys and secrets.
pub fn random_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}

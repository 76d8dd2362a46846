//! The application state shared by every handler, and the narrow sub-states the
//! extractors and layers take from it (axum's `FromRef`): nothing below `http/` sees it.
//!
//! Built once from [`Settings`] by [`AppState::new`]: this replica's live view and the
//! handles it reads through ([`Replica`]: Redis, queue, catalog, token keys, metrics),
//! the command publisher, the abuse limits, the identity secret and the admin key.

use crate::adapters::api_keys::ApiKeys;
use crate::adapters::back_office::BackOffice;
use crate::adapters::publisher::{BatchConfig, Publisher};
use crate::gate::RevokedPasses;
use crate::http::auth::AdminKey;
use crate::http::limits::Limits;
use crate::identity::Identity;
use crate::live::Replica;
use crate::queue::Queue;
use crate::settings::Settings;
use crate::tokens::TokenKeys;
use anyhow::Context;
use axum::extract::FromRef;
use protocol::names::AmqpNames;
use protocol::topology::Topology;
use std::ops::Deref;
use std::sync::Arc;

/// Cheaply cloneable handle to [`Inner`].
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared state.
pub struct Inner {
    /// Validated settings.
    pub settings: Settings,
    /// This replica's live view and the handles it reads through.
    pub replica: Replica,
    /// Command channel to the worker shards.
    pub publisher: Publisher,
    /// Rate limits and the shared join quota (`settings.abuse`).
    pub limits: Arc<Limits>,
    /// Signed user references (`abuse.identity_secret`); `None` when not configured.
    pub identity: Option<Arc<Identity>>,
    /// The admin key, as its digest.
    pub admin_key: AdminKey,
    /// The back office's PostgreSQL pool (never used by fan routes).
    pub back_office: BackOffice,
    /// The venue's API keys, with this replica's cache of verified ones.
    pub api_keys: Arc<ApiKeys>,
    /// This replica's copy of the revoked passes of gated events (gate mode's check).
    pub revoked: Arc<RevokedPasses>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state; connects nothing (see `startup.rs` for the background tasks).
    ///
    /// # Errors
    /// Invalid settings (URLs, keys).
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        settings.validate().context("Invalid settings")?;
        let replica = Replica::new(&settings)?;
        let brokers = runtime::amqp::Brokers::new(&settings.amqp_url, &settings.amqp_ca_file)
            .context("Invalid amqp_url or amqp_ca_file")?;
        let publisher = Publisher::new(
            brokers,
            Topology::new(AmqpNames::new(settings.namespace.clone()), settings.shards)
                .with_quorum_group_size(
                    u8::try_from(settings.amqp_quorum_group_size)
                        .context("Invalid amqp_quorum_group_size")?,
                ),
            BatchConfig {
                max: settings.command_batch_max,
                delay: std::time::Duration::from_micros(settings.command_batch_delay_us),
            },
            replica.metrics.clone(),
        );
        let limits = Arc::new(Limits::new(&settings, &replica.metrics)?);
        let identity = Identity::new(&settings.abuse.identity_secret).map(Arc::new);
        let back_office = BackOffice::new(&settings).context("Invalid database_url")?;
        Ok(Self(Arc::new(Inner {
            api_keys: Arc::new(ApiKeys::new(back_office.clone())),
            revoked: Arc::default(),
            back_office,
            admin_key: AdminKey::new(&settings.admin_key),
            settings,
            replica,
            publisher,
            limits,
            identity,
        })))
    }
}

impl FromRef<AppState> for BackOffice {
    fn from_ref(state: &AppState) -> Self {
        state.back_office.clone()
    }
}

impl FromRef<AppState> for Arc<ApiKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.api_keys.clone()
    }
}

impl FromRef<AppState> for Arc<Limits> {
    fn from_ref(state: &AppState) -> Self {
        state.limits.clone()
    }
}

impl FromRef<AppState> for Arc<TokenKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.replica.tokens.clone()
    }
}

impl FromRef<AppState> for Queue {
    fn from_ref(state: &AppState) -> Self {
        state.replica.queue.clone()
    }
}

impl FromRef<AppState> for AdminKey {
    fn from_ref(state: &AppState) -> Self {
        state.admin_key
    }
}

impl FromRef<AppState> for Option<Arc<Identity>> {
    fn from_ref(state: &AppState) -> Self {
        state.identity.clone()
    }
}

//! The application: [`Application::build`] binds the listener and builds the state;
//! [`Application::run_until_stopped`] serves HTTP and runs the background tasks (Redis
//! connector, AMQP connection, admission loop, live-view watcher) until the shutdown
//! token fires.
//!
//! Nothing here needs Redis or RabbitMQ to be up: both connect in the background with
//! backoff, and requests needing them get `503` + `Retry-After` meanwhile. Every task
//! belongs to a `TaskTracker` that shutdown waits on.

use crate::admission::admitter::{self, AdmitterConfig};
use crate::http::state::AppState;
use crate::http::{limits, middleware, routes};
use crate::live::watcher;
use crate::settings::Settings;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A built, not yet running gateway.
pub struct Application {
    port: u16,
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Validates `settings`, builds the state and binds `host:port` (port 0 = ephemeral).
    ///
    /// # Errors
    /// Invalid settings, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let addr = format!("{}:{}", settings.host, settings.port);
        let state = AppState::new(settings)?;
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("Failed to bind {addr}"))?;
        let port = listener
            .local_addr()
            .context("Failed to read the bound address")?
            .port();
        let router = middleware::apply(routes::router(&state), state.replica.metrics.clone())
            .with_state(state.clone());
        Ok(Application {
            port,
            listener,
            router,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` fires, then drains in-flight requests, stops the
    /// background tasks and waits for them.
    ///
    /// # Errors
    /// If the HTTP server fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application {
            port,
            listener,
            router,
            state,
        } = self;
        // Background tasks stop after the server has drained, so in-flight requests can
        // still reach Redis and the broker.
        let tasks = CancellationToken::new();
        let tracker = TaskTracker::new();
        {
            let (redis, token) = (state.replica.redis.clone(), tasks.clone());
            tracker.spawn(async move { redis.run_connector(token).await });
            let (publisher, token) = (state.publisher.clone(), tasks.clone());
            tracker.spawn(async move { publisher.run(token).await });
            let admission = AdmitterConfig {
                period: Duration::from_millis(state.settings.admit_interval_ms),
                abandon_after_seconds: state.settings.abandon_after_seconds,
            };
            tracker.spawn(admitter::run(
                state.replica.clone(),
                admission,
                tasks.clone(),
            ));
            tracker.spawn(watcher::run(state.replica.clone(), tasks.clone()));
            tracker.spawn(crate::live::feed::run(state.replica.clone(), tasks.clone()));
            tracker.spawn(crate::gate::revoked::run(
                state.revoked.clone(),
                state.replica.queue.clone(),
                tasks.clone(),
            ));
            tracker.spawn(limits::run_housekeeping(
                state.limits.clone(),
                tasks.clone(),
            ));
        }
        tracker.close();
        tracing::info!(port, "gateway listening");
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown({
            // Open SSE streams end when shutdown starts, so the drain can finish.
            let live = state.replica.live.clone();
            async move {
                shutdown.cancelled().await;
                live.close();
            }
        })
        .await;
        tasks.cancel();
        tracker.wait().await;
        tracing::info!("gateway stopped");
        served.context("HTTP server failed")
    }
}

/// Resolves on Ctrl-C or SIGTERM (the same future the worker waits on).
pub use runtime::shutdown::signal as shutdown_signal;

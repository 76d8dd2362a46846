//! Shutdown: a future that resolves on Ctrl-C or SIGTERM (what a container runtime sends
//! before it kills the process), and the cancellation it triggers. Every long-running
//! part of a binary takes a [`CancellationToken`] and stops when it is cancelled.

use tokio_util::sync::CancellationToken;

/// Resolves on the first Ctrl-C (SIGINT) or, on Unix, SIGTERM. If a handler cannot be
/// installed, that signal is simply never awaited.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Waits for [`signal`], logs it, and cancels `token`; returns early, without logging,
/// if `token` is cancelled some other way first.
pub async fn cancel_on_signal(token: CancellationToken) {
    tokio::select! {
        _ = signal() => {
            tracing::info!("shutdown requested");
            token.cancel();
        }
        _ = token.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_when_cancelled_elsewhere() {
        let token = CancellationToken::new();
        token.cancel();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            cancel_on_signal(token.clone()),
        )
        .await
        .expect("returns at once");
    }
}

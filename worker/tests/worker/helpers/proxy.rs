//! A TCP proxy that can be switched off and on, to take PostgreSQL or RabbitMQ away from
//! a worker and give it back (outage and recovery without a restart).
//!
//! Switching off cuts every open connection and resets new ones at once (as a crashed
//! server would); switching on forwards new connections to the upstream again. Its
//! tasks belong to a `TaskTracker` and stop when the proxy is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running proxy; it stops when dropped.
pub(crate) struct Proxy {
    /// Cancelled to cut the current connections; `None` while switched off.
    link: Arc<Mutex<Option<CancellationToken>>>,
    stop: CancellationToken,
}

impl Proxy {
    /// Starts a proxy in front of the service of `url` (`scheme://[user:pass@]host:port/..`);
    /// returns it and `url` rewritten to go through it.
    pub(crate) async fn start(url: &str) -> (Proxy, String) {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.split('/').next().unwrap_or(rest);
        let hostport = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
        let upstream: SocketAddr = tokio::net::lookup_host(hostport)
            .await
            .expect("Failed to resolve the upstream")
            .next()
            .expect("no address for the upstream");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("Failed to bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(Mutex::new(Some(CancellationToken::new())));
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (links, stopped, tasks) = (link.clone(), stop.clone(), tracker.clone());
        tracker.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let Some(link) = links.lock().unwrap().clone() else {
                    continue; // switched off: `client` is dropped, the peer sees a reset
                };
                let (link, stopped) = (link.child_token(), stopped.clone());
                tasks.spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = link.cancelled() => {}
                        _ = stopped.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        tracker.close();
        let proxied = url.replacen(hostport, &format!("127.0.0.1:{port}"), 1);
        (Proxy { link, stop }, proxied)
    }

    /// Cuts every connection and refuses new ones until [`Proxy::switch_on`].
    pub(crate) fn switch_off(&self) {
        if let Some(link) = self.link.lock().unwrap().take() {
            link.cancel();
        }
    }

    /// Forwards new connections again.
    pub(crate) fn switch_on(&self) {
        let mut link = self.link.lock().unwrap();
        if link.is_none() {
            *link = Some(CancellationToken::new());
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

//! A TCP proxy in front of one service (PostgreSQL, Redis or RabbitMQ), to take it away
//! from a worker or a gateway replica and give it back, without a restart.
//!
//! - [`Proxy::switch_off`] cuts every open connection and resets new ones at once, as a
//!   crashed server would; [`Proxy::switch_on`] forwards new connections again.
//! - [`Proxy::freeze`] keeps every connection open but passes no byte either way, as a
//!   hung server or a stalled network would, until [`Proxy::thaw`]; what was sent
//!   meanwhile is then delivered, in order.
//!
//! Its tasks belong to a `TaskTracker` and stop when the proxy is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running proxy on a loopback port; it stops when dropped.
pub struct Proxy {
    /// Local port the client is pointed at.
    pub port: u16,
    /// Cancelled to cut the current connections; `None` while switched off.
    link: Arc<Mutex<Option<CancellationToken>>>,
    /// `false` while frozen.
    flowing: watch::Sender<bool>,
    stop: CancellationToken,
}

/// The `host:port` part of a `scheme://[user:pass@]host:port[/...]` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, hp)| hp)
}

/// Copies `from` to `to`, holding bytes back while `flowing` is `false`.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if flowing.wait_for(|f| *f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    /// Starts a proxy, switched on, in front of the service of `url`
    /// (`scheme://[user:pass@]host:port/...`; of a comma-separated list, the first URL);
    /// returns it and that URL rewritten to go through it.
    ///
    /// # Panics
    /// When the upstream's name does not resolve or no loopback port can be bound.
    pub async fn start(url: &str) -> (Proxy, String) {
        // Of a list of nodes, the first: a proxied list would let clients go around it.
        let url = runtime::redact::split_url_list(url)
            .first()
            .copied()
            .unwrap_or(url);
        let hostport = authority(url);
        let upstream: SocketAddr = tokio::net::lookup_host(hostport)
            .await
            .expect("Failed to resolve the upstream")
            .next()
            .expect("no address for the upstream");
        let proxy = Self::start_to(upstream).await;
        let proxied = url.replacen(hostport, &format!("127.0.0.1:{}", proxy.port), 1);
        (proxy, proxied)
    }

    /// Starts a proxy, switched on, forwarding to `upstream`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_to(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("Failed to bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let link = Arc::new(Mutex::new(Some(CancellationToken::new())));
        let stop = CancellationToken::new();
        let flowing = watch::Sender::new(true);
        let tracker = TaskTracker::new();
        let (links, stopped, flows, tasks) =
            (link.clone(), stop.clone(), flowing.clone(), tracker.clone());
        tracker.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                let current = links.lock().unwrap().clone();
                let Some(link) = current else {
                    continue; // switched off: `client` is dropped, the peer sees a reset
                };
                let (link, stopped) = (link.child_token(), stopped.clone());
                let (up, down) = (flows.subscribe(), flows.subscribe());
                tasks.spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_rx, client_tx) = client.into_split();
                    let (server_rx, server_tx) = server.into_split();
                    tokio::select! {
                        _ = link.cancelled() => {}
                        _ = stopped.cancelled() => {}
                        _ = pump(client_rx, server_tx, up) => {}
                        _ = pump(server_rx, client_tx, down) => {}
                    }
                });
            }
        });
        tracker.close();
        Proxy {
            port,
            link,
            flowing,
            stop,
        }
    }

    /// Cuts every connection and refuses new ones until [`Proxy::switch_on`].
    pub fn switch_off(&self) {
        if let Some(link) = self.link.lock().unwrap().take() {
            link.cancel();
        }
    }

    /// Forwards new connections again.
    pub fn switch_on(&self) {
        let mut link = self.link.lock().unwrap();
        if link.is_none() {
            *link = Some(CancellationToken::new());
        }
    }

    /// Stops passing bytes on every connection, keeping them open, until [`Proxy::thaw`].
    pub fn freeze(&self) {
        self.flowing.send_replace(false);
    }

    /// Passes bytes again, first those held back while frozen.
    pub fn thaw(&self) {
        self.flowing.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn the_authority_is_found_with_or_without_credentials_and_path() {
        assert_eq!(authority("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(
            authority("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
        assert_eq!(
            authority("postgres://postgres:postgres@localhost:5432/db"),
            "localhost:5432"
        );
    }
}

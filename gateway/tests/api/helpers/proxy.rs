//! A TCP proxy that can be switched off and on, to take Redis or RabbitMQ away from one
//! gateway replica and give it back (outage and recovery without restart).
//!
//! Switching off cuts every open connection and resets new ones at once (as a crashed
//! server would); switching on forwards new connections to the upstream again.
//! Freezing keeps every connection open but stops passing bytes either way (a server
//! that hangs, or a network that stalls) until thawed; what was sent meanwhile is
//! delivered then, in order.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A running proxy; it stops when dropped.
pub(crate) struct Proxy {
    /// Local port to point the client at.
    pub(crate) port: u16,
    /// Cancelled to cut the current connections; `None` while switched off.
    link: Arc<Mutex<Option<CancellationToken>>>,
    /// `false` while frozen.
    flowing: watch::Sender<bool>,
    stop: CancellationToken,
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
    /// Starts a proxy on an ephemeral loopback port forwarding to `upstream`, switched on.
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("Failed to bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(Mutex::new(Some(CancellationToken::new())));
        let stop = CancellationToken::new();
        let flowing = watch::Sender::new(true);
        let (links, stopped, flows) = (link.clone(), stop.clone(), flowing.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                let current = links.lock().unwrap().clone();
                let Some(link) = current else {
                    drop(client); // switched off: reset at once
                    continue;
                };
                let link = link.child_token();
                let stopped = stopped.clone();
                let (up, down) = (flows.subscribe(), flows.subscribe());
                tokio::spawn(async move {
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
        Proxy {
            port,
            link,
            flowing,
            stop,
        }
    }

    /// Cuts every connection and refuses new ones until [`Proxy::switch_on`].
    pub(crate) fn switch_off(&self) {
        if let Some(link) = self.link.lock().unwrap().take() {
            link.cancel();
        }
    }

    /// Stops passing bytes on every connection, keeping them open, until
    /// [`Proxy::thaw`].
    pub(crate) fn freeze(&self) {
        self.flowing.send_replace(false);
    }

    /// Passes bytes again, first those held back while frozen.
    pub(crate) fn thaw(&self) {
        self.flowing.send_replace(true);
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

/// The `host:port` part of a `redis://` or `amqp://user:pass@host:port/vhost` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, hp)| hp)
}

/// Starts a proxy in front of the service of `url`; returns it and `url` rewritten to
/// go through it.
pub(crate) async fn proxy_for(url: &str) -> (Proxy, String) {
    let hostport = authority(url);
    let upstream = tokio::net::lookup_host(hostport)
        .await
        .expect("Failed to resolve the upstream")
        .next()
        .expect("no address for the upstream");
    let proxy = Proxy::start(upstream).await;
    let proxied = url.replacen(hostport, &format!("127.0.0.1:{}", proxy.port), 1);
    (proxy, proxied)
}

//! The pieces of the gate's real-proxy tests: a shop that records every request that
//! reaches it, nginx started by `deploy/gate/run-nginx.sh` from the shipped template, and
//! a browser-like client that keeps cookies per host and never follows redirects.

use axum::extract::Request;
use axum::Router;
use protocol::ids::EventId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// One request as the shop received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) path_and_query: String,
    /// `X-Anteroom-Ticket`, `X-Anteroom-Event` as nginx set them.
    pub(super) ticket: Option<String>,
    pub(super) event: Option<String>,
}

/// A shop upstream on a loopback port that answers every path with `200 shop`.
pub(super) struct Shop {
    pub(super) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Shop {
    pub(super) async fn start() -> Shop {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = Router::new().fallback(move |req: Request| {
            let header = |name: &str| {
                let value = req.headers().get(name)?;
                Some(value.to_str().expect("a text header").to_owned())
            };
            log.lock().unwrap().push(Seen {
                path_and_query: req.uri().path_and_query().map_or("", |p| p.as_str()).into(),
                ticket: header("x-anteroom-ticket"),
                event: header("x-anteroom-event"),
            });
            async { "shop" }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the shop stopped");
        });
        Shop { addr, seen, task }
    }

    /// Every request received so far, in order.
    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port nothing listens on right now.
pub(super) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// nginx as the gate, from its own prefix directory; stopped (and the directory removed)
/// when dropped. Its error log is printed if the test failed.
pub(super) struct Nginx {
    /// `http://127.0.0.1:{port}`.
    pub(super) base: String,
    prefix: PathBuf,
    pid: String,
}

impl Nginx {
    /// `deploy/gate/run-nginx.sh port gateway shop event prefix mode`; panics with the
    /// script's output if it fails (also when nginx cannot be found or installed).
    pub(super) async fn start(
        port: u16,
        gateway: &str,
        shop: SocketAddr,
        event: &EventId,
        mode: &str,
    ) -> Nginx {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/gate/run-nginx.sh");
        let prefix = std::env::temp_dir().join(format!("anteroom-gate-{}", testkit::random_hex(6)));
        let out = tokio::process::Command::new(script)
            .arg(port.to_string())
            .arg(gateway)
            .arg(shop.to_string())
            .arg(event.to_string())
            .arg(&prefix)
            .arg(mode)
            .output()
            .await
            .expect("Failed to run deploy/gate/run-nginx.sh");
        assert!(
            out.status.success(),
            "run-nginx.sh failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(
            pid.parse::<u32>().is_ok(),
            "run-nginx.sh printed no pid: {pid:?}"
        );
        Nginx {
            base: format!("http://127.0.0.1:{port}"),
            prefix,
            pid,
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.prefix.join("logs/error.log"));
            eprintln!("nginx error log:\n{}", log.unwrap_or_default());
        }
        let _ = std::process::Command::new("kill")
            .args(["-QUIT", self.pid.as_str()])
            .status();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// A response as a browser would get it, redirects not followed.
#[derive(Debug)]
pub(super) struct Page {
    pub(super) status: u16,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) body: String,
}

impl Page {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("a text header"))
    }

    /// The `Location` of a redirect, parsed.
    #[track_caller]
    pub(super) fn location(&self) -> url::Url {
        let location = self
            .header("location")
            .expect("a redirect without Location");
        url::Url::parse(location).expect("Location is not an absolute URL")
    }
}

/// A cookie jar per `host:port` (host-only cookies, as the gateway sets them without a
/// cookie domain) in front of a client that does not follow redirects.
pub(super) struct Browser {
    client: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    pub(super) fn new() -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        Browser {
            client,
            jar: HashMap::new(),
        }
    }

    /// Stores `name=value` for the host of `url`.
    pub(super) fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        let host = authority(url);
        self.jar
            .entry(host)
            .or_default()
            .insert(name.into(), value.into());
    }

    /// The cookie `name` held for the host of `url`.
    pub(super) fn cookie(&self, url: &str, name: &str) -> Option<&str> {
        self.jar.get(&authority(url))?.get(name).map(String::as_str)
    }

    /// `GET url` with the host's cookies (and `extra` headers); keeps what `Set-Cookie`
    /// sets (`Max-Age=0` deletes).
    pub(super) async fn get(&mut self, url: &str, extra: &[(&str, &str)]) -> Page {
        let host = authority(url);
        let mut req = self.client.get(url);
        if let Some(cookies) = self.jar.get(&host).filter(|c| !c.is_empty()) {
            let line: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", line.join("; "));
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.expect("Failed to send a browser request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().expect("a text Set-Cookie");
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').expect("Set-Cookie without name=value");
            let cookies = self.jar.entry(host.clone()).or_default();
            if attributes.to_ascii_lowercase().contains("max-age=0") {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().into(), value.trim().into());
            }
        }
        let body = resp.text().await.expect("Failed to read a page");
        Page {
            status,
            headers,
            body,
        }
    }
}

/// `host:port` of an `http://host:port/...` URL.
fn authority(url: &str) -> String {
    let url = url::Url::parse(url).expect("an absolute URL");
    format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    )
}

//! Redis for the gateway, the worker, the tests and the benchmarks: one node or a Redis
//! Cluster, plain (`redis://`) or TLS (`rediss://`, rustls), behind one cloneable
//! connection type.
//!
//! - [`RedisSettings`]: the three settings both binaries read (`redis_mode`,
//!   `redis_url`, `redis_ca_file`), checked together so a bad combination is refused
//!   at start-up with a message naming the variable.
//! - [`RedisConnector`]: builds connections from the settings.
//! - [`RedisConn`]: a [`ConnectionManager`] (one node; reconnects by itself) or a
//!   [`ClusterConnection`] (follows `MOVED`/`ASK`, refreshes the slot map after a
//!   failover, reconnects to nodes by itself). It implements
//!   [`redis::aio::ConnectionLike`], so commands, pipelines and scripts run on either.
//!
//! On a cluster every key of one command, script or `MULTI` must hash to one slot
//! (every per-event key carries the event's hash tag `{E}`). A plain pipeline may span
//! slots: [`RedisConn`] splits it per slot and returns the replies in the pipeline's
//! order, keyless commands (`PUBLISH`) running after the keyed ones so a subscriber
//! that reads on the message sees the writes. [`RedisConn::scan_match`] visits every
//! primary.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::settings::ConfigError;

/// The setting that chooses one node or a cluster.
pub const MODE_KEY: &str = "redis_mode";
/// The setting holding the URL (or the cluster's seed URLs).
pub const URL_KEY: &str = "redis_url";
/// The setting naming a PEM file of CA certificates for `rediss://`.
pub const CA_FILE_KEY: &str = "redis_ca_file";

/// One Redis node, or a Redis Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisMode {
    /// One node (`redis_mode = "standalone"`, the default).
    #[default]
    Standalone,
    /// A Redis Cluster reached through seed nodes (`redis_mode = "cluster"`).
    Cluster,
}

impl FromStr for RedisMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standalone" => Ok(Self::Standalone),
            "cluster" => Ok(Self::Cluster),
            other => Err(format!(
                "must be \"standalone\" or \"cluster\", not {other:?}"
            )),
        }
    }
}

impl fmt::Display for RedisMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Standalone => "standalone",
            Self::Cluster => "cluster",
        })
    }
}

/// Whether `e` says Redis (or the slot's node) is unreachable for now rather than that
/// the request was wrong: I/O errors, timeouts, refused or dropped connections, a
/// loading or read-only node, and a cluster in failover (`CLUSTERDOWN`, `MASTERDOWN`,
/// `TRYAGAIN`, redirects still pointing at the dead primary once the client's retries
/// are spent, no connection to the slot's node). The gateway answers these with `503`
/// and `Retry-After`.
#[must_use]
pub fn is_unavailable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::BusyLoadingError
                | redis::ErrorKind::TryAgain
                | redis::ErrorKind::ClusterDown
                | redis::ErrorKind::MasterDown
                | redis::ErrorKind::ReadOnly
                | redis::ErrorKind::Moved
                | redis::ErrorKind::Ask
                | redis::ErrorKind::ClusterConnectionNotFound
        )
}

/// The checked Redis settings: the mode, the URLs (one in standalone mode, one or more
/// seed nodes in cluster mode) and the CA certificates to trust for `rediss://`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// One node or a cluster.
    pub mode: RedisMode,
    /// The node's URL, or the cluster's seed URLs (at least one).
    pub urls: Vec<String>,
    /// The CA file and its PEM text: `rediss://` trusts these certificates instead of
    /// the system's roots. `None`: the system's roots.
    pub ca: Option<(PathBuf, Vec<u8>)>,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| crate::redact::url_password(u))
            .collect();
        f.debug_struct("RedisSettings")
            .field("mode", &self.mode)
            .field("urls", &urls)
            .field("ca_file", &self.ca.as_ref().map(|(p, _)| p))
            .finish()
    }
}

impl RedisSettings {
    /// A standalone node at `url`, system roots (tests, tools).
    pub fn standalone(url: impl Into<String>) -> Self {
        Self {
            mode: RedisMode::Standalone,
            urls: vec![url.into()],
            ca: None,
        }
    }

    /// Checks and combines the three settings. `url` is one URL, or in cluster mode a
    /// comma-separated list of seed URLs; `ca_file` is `""` or a path to a PEM file of
    /// CA certificates. The CA file is read here.
    ///
    /// # Errors
    /// Every problem, keyed by the setting ([`MODE_KEY`], [`URL_KEY`], [`CA_FILE_KEY`]):
    /// an unknown mode; no URL; several URLs in standalone mode; a URL the client cannot
    /// parse; a cluster seed that is not `redis://` or `rediss://`; seeds mixing
    /// `redis://` and `rediss://`; a CA file with no `rediss://` URL; a CA file that
    /// cannot be read or holds no PEM certificate.
    pub fn parse(mode: &str, url: &str, ca_file: &str) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mode = mode.parse::<RedisMode>().unwrap_or_else(|m| {
            errors.push(ConfigError::new(MODE_KEY, m));
            RedisMode::Standalone
        });
        let urls: Vec<String> = url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        if urls.is_empty() {
            errors.push(ConfigError::new(URL_KEY, "must not be empty"));
        }
        if mode == RedisMode::Standalone && urls.len() > 1 {
            errors.push(ConfigError::new(
                URL_KEY,
                format!(
                    "holds {} URLs, but redis_mode is \"standalone\": give one URL, or set \
                     redis_mode = \"cluster\" for a list of cluster seed nodes",
                    urls.len()
                ),
            ));
        }
        for u in &urls {
            if redis::IntoConnectionInfo::into_connection_info(u.as_str()).is_err() {
                errors.push(ConfigError::new(
                    URL_KEY,
                    format!(
                        "{:?} is not a Redis URL (redis://host:port or rediss://host:port)",
                        crate::redact::url_password(u)
                    ),
                ));
            }
        }
        let tls = urls.iter().filter(|u| u.starts_with("rediss://")).count();
        if mode == RedisMode::Cluster {
            if urls
                .iter()
                .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
            {
                errors.push(ConfigError::new(
                    URL_KEY,
                    "every cluster seed must be a redis:// or rediss:// URL",
                ));
            } else if tls != 0 && tls != urls.len() {
                errors.push(ConfigError::new(
                    URL_KEY,
                    "mixes redis:// and rediss:// seeds: a cluster is reached either all \
                     over TLS or all in plain text",
                ));
            }
        }
        let ca = if ca_file.trim().is_empty() {
            None
        } else if tls == 0 {
            errors.push(ConfigError::new(
                CA_FILE_KEY,
                "is set but redis_url is not rediss://: a CA file only applies to TLS",
            ));
            None
        } else {
            match read_ca(ca_file.trim()) {
                Ok(pem) => Some((PathBuf::from(ca_file.trim()), pem)),
                Err(m) => {
                    errors.push(ConfigError::new(CA_FILE_KEY, m));
                    None
                }
            }
        };
        if errors.is_empty() {
            Ok(Self { mode, urls, ca })
        } else {
            Err(errors)
        }
    }

    /// Whether the connections use TLS.
    pub fn tls(&self) -> bool {
        self.urls.iter().any(|u| u.starts_with("rediss://"))
    }
}

/// Reads a PEM file and checks it holds at least one certificate.
fn read_ca(path: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    let mut reader = pem.as_slice();
    let mut count = 0;
    for cert in rustls_pemfile::certs(&mut reader) {
        cert.map_err(|e| format!("{path:?} is not a PEM file of certificates: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err(format!(
            "{path:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(pem)
}

/// How connections behave: timeouts, and the standalone reconnect policy.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Bound on establishing one connection (TCP, TLS, `HELLO`).
    pub connection_timeout: Duration,
    /// Bound on each reply.
    pub response_timeout: Duration,
    /// The standalone [`ConnectionManager`]'s reconnect policy (its timeouts are set
    /// from the two fields above).
    pub manager: ConnectionManagerConfig,
    /// In cluster mode, how many times a command is retried on a redirect or a failed
    /// node before its error is returned (the slot map is refreshed in between).
    pub cluster_retries: u32,
}

impl ConnectOptions {
    /// `connection_timeout` and `response_timeout`, the manager's defaults, 2 cluster
    /// retries (a failover surfaces as an error quickly rather than hanging a request).
    pub fn new(connection_timeout: Duration, response_timeout: Duration) -> Self {
        Self {
            connection_timeout,
            response_timeout,
            manager: ConnectionManagerConfig::new(),
            cluster_retries: 2,
        }
    }
}

/// Builds [`RedisConn`]s from [`RedisSettings`] (cheap to clone).
#[derive(Clone)]
pub struct RedisConnector {
    inner: Connector,
    pubsub: Vec<redis::Client>,
    options: ConnectOptions,
}

#[derive(Clone)]
enum Connector {
    Standalone(redis::Client),
    Cluster(ClusterClient),
}

impl RedisConnector {
    /// A connector for `settings`; connects nothing yet.
    ///
    /// # Errors
    /// A URL or a CA file the client refuses.
    pub fn new(settings: &RedisSettings, options: ConnectOptions) -> RedisResult<Self> {
        let certs = || redis::TlsCertificates {
            client_tls: None,
            root_cert: settings.ca.as_ref().map(|(_, pem)| pem.clone()),
        };
        let client = |url: &str| -> RedisResult<redis::Client> {
            if settings.ca.is_some() && url.starts_with("rediss://") {
                redis::Client::build_with_tls(url, certs())
            } else {
                redis::Client::open(url)
            }
        };
        let pubsub = settings
            .urls
            .iter()
            .map(|u| client(u))
            .collect::<RedisResult<Vec<_>>>()?;
        let inner = match settings.mode {
            RedisMode::Standalone => Connector::Standalone(pubsub[0].clone()),
            RedisMode::Cluster => {
                let mut builder = ClusterClientBuilder::new(settings.urls.clone())
                    .connection_timeout(options.connection_timeout)
                    .response_timeout(options.response_timeout)
                    .retries(options.cluster_retries)
                    .min_retry_wait(50)
                    .max_retry_wait(500);
                if settings.ca.is_some() {
                    builder = builder.certs(certs());
                }
                Connector::Cluster(builder.build()?)
            }
        };
        Ok(Self {
            inner,
            pubsub,
            options,
        })
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Connector::Cluster(_))
    }

    /// Connects: a [`ConnectionManager`] to the node, or a cluster connection (which
    /// reads the slot map from the first seed that answers).
    ///
    /// # Errors
    /// No node reachable, TLS or authentication refused.
    pub async fn connect(&self) -> RedisResult<RedisConn> {
        match &self.inner {
            Connector::Standalone(client) => {
                let config = self
                    .options
                    .manager
                    .clone()
                    .set_connection_timeout(self.options.connection_timeout)
                    .set_response_timeout(self.options.response_timeout);
                let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(RedisConn::Standalone(manager))
            }
            Connector::Cluster(client) => {
                Ok(RedisConn::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Clients for a pub/sub subscription, in the order to try them: the node, or each
    /// cluster seed (a message published on any cluster node reaches subscribers on
    /// every node, so any reachable seed will do).
    pub fn pubsub_clients(&self) -> &[redis::Client] {
        &self.pubsub
    }
}

/// A connection to one node or to a cluster (cheap to clone: clones share it).
// Cloned for every call; boxing the larger manager would add an allocation per clone.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum RedisConn {
    /// One node, reconnecting by itself.
    Standalone(ConnectionManager),
    /// A cluster.
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// The primaries' addresses (`host`, `port`) from `CLUSTER SLOTS`; in standalone mode
    /// an empty list (the one node is the connection itself).
    ///
    /// # Errors
    /// A Redis error, or a reply that is not a slot table.
    pub async fn primaries(&mut self) -> RedisResult<Vec<(String, u16)>> {
        let RedisConn::Cluster(_) = self else {
            return Ok(Vec::new());
        };
        let slots: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(self).await?;
        let mut out: Vec<(String, u16)> = Vec::new();
        for range in slots {
            let Value::Array(items) = range else {
                return Err(bad_reply("CLUSTER SLOTS entry is not an array"));
            };
            let Some(Value::Array(node)) = items.get(2) else {
                return Err(bad_reply("CLUSTER SLOTS entry has no primary"));
            };
            let host: String = redis::from_redis_value(
                node.first()
                    .ok_or_else(|| bad_reply("CLUSTER SLOTS primary has no host"))?,
            )?;
            let port: u16 = redis::from_redis_value(
                node.get(1)
                    .ok_or_else(|| bad_reply("CLUSTER SLOTS primary has no port"))?,
            )?;
            if !out.iter().any(|(h, p)| *h == host && *p == port) {
                out.push((host, port));
            }
        }
        Ok(out)
    }

    /// Runs `cmd` on every primary (standalone: on the node) and returns each reply.
    ///
    /// # Errors
    /// The first Redis error.
    pub async fn on_each_primary<T: redis::FromRedisValue>(
        &mut self,
        cmd: &Cmd,
    ) -> RedisResult<Vec<T>> {
        match self {
            RedisConn::Standalone(c) => Ok(vec![cmd.query_async(c).await?]),
            RedisConn::Cluster(_) => {
                let mut out = Vec::new();
                for (host, port) in self.primaries().await? {
                    out.push(self.on_node(&host, port, cmd).await?);
                }
                Ok(out)
            }
        }
    }

    async fn on_node<T: redis::FromRedisValue>(
        &mut self,
        host: &str,
        port: u16,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        match self {
            RedisConn::Standalone(c) => cmd.query_async(c).await,
            RedisConn::Cluster(c) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_owned(),
                    port,
                });
                redis::from_owned_redis_value(c.route_command(cmd, routing).await?)
            }
        }
    }

    /// Every key matching `pattern` (`SCAN MATCH pattern COUNT count`), on every primary
    /// of a cluster, handed to `batch` as they come (at most one `SCAN` reply at a time;
    /// keys written meanwhile may be missed).
    ///
    /// # Errors
    /// The first Redis error, or the first error of `batch`.
    pub async fn scan_match<F, Fut>(
        &mut self,
        pattern: &str,
        count: usize,
        mut batch: F,
    ) -> RedisResult<()>
    where
        F: FnMut(RedisConn, Vec<String>) -> Fut,
        Fut: std::future::Future<Output = RedisResult<()>>,
    {
        let nodes: Vec<Option<(String, u16)>> = match self {
            RedisConn::Standalone(_) => vec![None],
            RedisConn::Cluster(_) => self.primaries().await?.into_iter().map(Some).collect(),
        };
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(count);
                let (next, keys): (u64, Vec<String>) = match &node {
                    None => scan.query_async(self).await?,
                    Some((host, port)) => self.on_node(host, *port, &scan).await?,
                };
                if !keys.is_empty() {
                    batch(self.clone(), keys).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }
}

fn bad_reply(what: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::TypeError, what))
}

/// The route of one command of a pipeline: a slot's node, or `None` (no key: any node).
fn command_route(cmd: &Cmd) -> Option<redis::cluster_routing::Route> {
    match RoutingInfo::for_routable(cmd) {
        Some(RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route))) => Some(route),
        _ => None,
    }
}

/// Runs a plain (non-`MULTI`) pipeline on a cluster: one sub-pipeline per slot, all at
/// once, then the keyless commands; the replies in the pipeline's order.
async fn cluster_pipeline(
    conn: &mut ClusterConnection,
    pipeline: &Pipeline,
) -> RedisResult<Vec<Value>> {
    let mut groups: Vec<(Option<redis::cluster_routing::Route>, Pipeline, Vec<usize>)> = Vec::new();
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        let route = command_route(cmd);
        let group = match groups.iter_mut().position(|(r, _, _)| *r == route) {
            Some(g) => g,
            None => {
                groups.push((route, Pipeline::new(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[group].1.add_command(cmd.clone());
        groups[group].2.push(i);
    }
    if groups.len() <= 1 {
        let n = pipeline.cmd_iter().count();
        return conn.req_packed_commands(pipeline, 0, n).await;
    }
    // Keyless commands (a PUBLISH announcing the writes) go last.
    let keyless = groups
        .iter()
        .position(|(r, _, _)| r.is_none())
        .map(|g| groups.remove(g));
    let mut replies: Vec<Option<Value>> = vec![None; pipeline.cmd_iter().count()];
    let keyed = futures::future::join_all(groups.iter().map(|(_, sub, _)| {
        let mut c = conn.clone();
        let n = sub.cmd_iter().count();
        async move { c.req_packed_commands(sub, 0, n).await }
    }))
    .await;
    for ((_, _, indices), result) in groups.iter().zip(keyed) {
        for (i, v) in indices.iter().zip(result?) {
            replies[*i] = Some(v);
        }
    }
    if let Some((_, sub, indices)) = keyless {
        let n = sub.cmd_iter().count();
        for (i, v) in indices
            .iter()
            .zip(conn.req_packed_commands(&sub, 0, n).await?)
        {
            replies[*i] = Some(v);
        }
    }
    replies
        .into_iter()
        .map(|v| v.ok_or_else(|| bad_reply("a pipeline reply is missing")))
        .collect()
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Standalone(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            // A plain pipeline asks for every reply from 0; a MULTI asks for the one
            // EXEC reply after them, and must stay on one slot.
            RedisConn::Cluster(c) => {
                if offset == 0 && count == pipeline.cmd_iter().count() {
                    Box::pin(cluster_pipeline(c, pipeline))
                } else {
                    c.req_packed_commands(pipeline, offset, count)
                }
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Standalone(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(errors: &[ConfigError]) -> Vec<&str> {
        errors.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn defaults_are_one_plain_node() {
        let s = RedisSettings::parse("standalone", "redis://127.0.0.1:6379", "").unwrap();
        assert_eq!(s.mode, RedisMode::Standalone);
        assert_eq!(s.urls, vec!["redis://127.0.0.1:6379"]);
        assert!(s.ca.is_none());
        assert!(!s.tls());
    }

    #[test]
    fn cluster_takes_a_list_of_seeds() {
        let s = RedisSettings::parse(
            "cluster",
            "redis://127.0.0.1:7001, redis://127.0.0.1:7002,,redis://127.0.0.1:7003",
            "",
        )
        .unwrap();
        assert_eq!(s.mode, RedisMode::Cluster);
        assert_eq!(s.urls.len(), 3);
        assert_eq!(s.urls[1], "redis://127.0.0.1:7002");
    }

    #[test]
    fn refuses_bad_combinations() {
        let e = RedisSettings::parse("standalone", "redis://a:1,redis://b:2", "").unwrap_err();
        assert_eq!(keys(&e), [URL_KEY]);
        assert!(e[0].message.contains("redis_mode = \"cluster\""), "{e:?}");
        let e = RedisSettings::parse("cluster", "redis://a:1,rediss://b:2", "").unwrap_err();
        assert_eq!(keys(&e), [URL_KEY]);
        assert!(e[0].message.contains("mixes"), "{e:?}");
        let e = RedisSettings::parse("sentinel", "redis://a:1", "").unwrap_err();
        assert_eq!(keys(&e), [MODE_KEY]);
        assert!(e[0].message.contains("\"sentinel\""), "{e:?}");
        let e = RedisSettings::parse("standalone", "redis://a:1", "/etc/hosts").unwrap_err();
        assert_eq!(keys(&e), [CA_FILE_KEY]);
        assert!(e[0].message.contains("rediss://"), "{e:?}");
        let e = RedisSettings::parse("standalone", " , ", "").unwrap_err();
        assert_eq!(keys(&e), [URL_KEY]);
        let e = RedisSettings::parse("cluster", "unix:///tmp/redis.sock", "").unwrap_err();
        assert!(keys(&e).contains(&URL_KEY), "{e:?}");
        let e = RedisSettings::parse("standalone", "http://x", "").unwrap_err();
        assert_eq!(keys(&e), [URL_KEY]);
    }

    #[test]
    fn ca_file_must_be_readable_pem() {
        let dir = std::env::temp_dir().join(format!("anteroom-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = RedisSettings::parse("standalone", "rediss://a:1", missing.to_str().unwrap())
            .unwrap_err();
        assert_eq!(keys(&e), [CA_FILE_KEY]);
        assert!(e[0].message.contains("cannot read"), "{e:?}");
        let text = dir.join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap();
        let e =
            RedisSettings::parse("standalone", "rediss://a:1", text.to_str().unwrap()).unwrap_err();
        assert!(e[0].message.contains("no PEM certificate"), "{e:?}");
        let pem = dir.join("ca.pem");
        // Any base64 body parses as PEM; the TLS handshake judges the certificate.
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let s = RedisSettings::parse(
            "cluster",
            "rediss://a:1,rediss://b:2",
            pem.to_str().unwrap(),
        )
        .unwrap();
        assert!(s.tls());
        assert_eq!(s.ca.as_ref().unwrap().0, pem);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_hides_passwords() {
        let s = RedisSettings::standalone("redis://user:hunter2@a:1");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    proptest! {
        #[test]
        fn seed_lists_round_trip(ports in proptest::collection::vec(1u16.., 1..8), tls: bool) {
            let scheme = if tls { "rediss" } else { "redis" };
            let urls: Vec<String> =
                ports.iter().map(|p| format!("{scheme}://127.0.0.1:{p}")).collect();
            let s = RedisSettings::parse("cluster", &urls.join(","), "").unwrap();
            prop_assert_eq!(&s.urls, &urls);
            prop_assert_eq!(s.tls(), tls);
            let standalone = RedisSettings::parse("standalone", &urls.join(","), "");
            prop_assert_eq!(standalone.is_ok(), urls.len() == 1);
        }

        #[test]
        fn unknown_modes_are_refused(mode in "[a-z]{1,12}") {
            prop_assume!(mode != "standalone" && mode != "cluster");
            let e = RedisSettings::parse(&mode, "redis://a:1", "").unwrap_err();
            prop_assert_eq!(keys(&e), vec![MODE_KEY]);
        }
    }
}

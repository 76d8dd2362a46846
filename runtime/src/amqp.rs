//! RabbitMQ for both binaries: finding a broker ([`Brokers`]: a list of cluster nodes,
//! tried in turn, over `amqp://` or `amqps://` with an optional private CA), checking
//! those settings ([`check_settings`]), and declaring the AMQP topology of
//! [`protocol::topology`] on a `lapin` channel.
//!
//! Gateway and worker both declare on every new connection; declarations are idempotent,
//! so a queue deleted by an operator comes back and a second declaration by another
//! process is a no-op. RabbitMQ answers `PRECONDITION_FAILED` (and closes the channel)
//! if an existing exchange or queue has other properties.

use crate::redact::split_url_list;
use crate::settings::ConfigError;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Channel, Connection, ConnectionProperties};
use protocol::names::AmqpNames;
use protocol::topology::{
    ArgumentValue, Binding, Exchange, ExchangeKind, Queue, Topology, MAX_QUORUM_GROUP_SIZE,
    QUORUM_INITIAL_GROUP_SIZE, SHARD_QUEUE_ARGUMENTS,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::instrument;

/// Why [`Brokers::new`] refused its settings (the message names the problem, not the
/// setting: [`check_settings`] adds that).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokersError {
    /// `amqp_url` is not a list of usable AMQP URLs.
    #[error("{0}")]
    Url(String),
    /// `amqp_ca_file` cannot serve as a CA.
    #[error("{0}")]
    CaFile(String),
}

/// No node of the list accepted a connection; one line per node tried, in order, each
/// with the node's label ([`node_label`]) and its error.
#[derive(Debug, thiserror::Error)]
#[error("no RabbitMQ node answered: {}", .0.join("; "))]
pub struct ConnectError(pub Vec<String>);

/// The RabbitMQ nodes a process may use (one broker, or the nodes of one cluster: any
/// node serves every queue) and how to verify their TLS certificates. Cheap to clone;
/// clones share the rotation.
///
/// [`Brokers::connect`] tries the nodes in turn, starting after the node of the previous
/// connection, so a connection lost with its node goes to the next one; the first try
/// of a process starts at a random node, so the gateways of a deployment spread over
/// the cluster.
#[derive(Clone)]
pub struct Brokers {
    nodes: Arc<[String]>,
    ca_pem: Option<Arc<str>>,
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Brokers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brokers")
            .field("nodes", &self.labels())
            .field("custom_ca", &self.ca_pem.is_some())
            .finish()
    }
}

/// A successful [`Brokers::connect`]: the connection and the node it went to.
pub struct Connected {
    /// The open connection.
    pub connection: Connection,
    /// The node, without credentials ([`node_label`]).
    pub node: String,
}

/// Parses `list`, one AMQP URL or several separated by commas (a comma starts a new URL
/// only where `scheme://` follows it, see [`split_url_list`]), into its URLs.
///
/// # Errors
/// [`BrokersError::Url`] when the list is empty, an entry is not an `amqp://` or
/// `amqps://` URL that `lapin` can use, or the entries mix the two schemes (one process
/// verifies TLS for all of its nodes or for none).
pub fn parse_nodes(list: &str) -> Result<Vec<String>, BrokersError> {
    let nodes = split_url_list(list);
    if nodes.is_empty() {
        return Err(BrokersError::Url(
            "must name at least one amqp:// or amqps:// URL".into(),
        ));
    }
    let mut schemes = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let which = if nodes.len() == 1 {
            String::from("the URL")
        } else {
            format!("entry {} of the comma-separated list", i + 1)
        };
        if !(node.starts_with("amqp://") || node.starts_with("amqps://")) {
            return Err(BrokersError::Url(format!(
                "{which} must start with amqp:// or amqps://"
            )));
        }
        let uri: AMQPUri = node.parse().map_err(|e: String| {
            BrokersError::Url(format!("{which} is not a usable AMQP URL: {e}"))
        })?;
        let host = &uri.authority.host;
        if host.is_empty() || host.contains([',', ' ']) {
            return Err(BrokersError::Url(format!(
                "{which} has no usable host (got {host:?})"
            )));
        }
        schemes.push(uri.scheme);
    }
    if schemes.windows(2).any(|w| w[0] != w[1]) {
        return Err(BrokersError::Url(
            "mixes amqp:// and amqps:// URLs: use one scheme for every node".into(),
        ));
    }
    Ok(nodes.into_iter().map(str::to_owned).collect())
}

/// Reads `path` and checks it holds at least one PEM certificate; returns the PEM text.
///
/// # Errors
/// [`BrokersError::CaFile`] when the file cannot be read or holds no PEM certificate.
pub fn read_ca_file(path: &str) -> Result<String, BrokersError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| BrokersError::CaFile(format!("cannot read {path}: {e}")))?;
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let certificates = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BrokersError::CaFile(format!("{path} is not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(BrokersError::CaFile(format!(
            "{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(pem)
}

/// Checks the AMQP settings both binaries share: `amqp_url` (see [`parse_nodes`]),
/// `amqp_ca_file` (empty, or a readable PEM CA with `amqps://` nodes) and
/// `amqp_quorum_group_size` (0, or 1 to [`MAX_QUORUM_GROUP_SIZE`]). Returns one
/// [`ConfigError`] per problem.
pub fn check_settings(url: &str, ca_file: &str, group_size: i64) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    match parse_nodes(url) {
        Ok(nodes) => {
            if !ca_file.is_empty() && nodes.iter().all(|n| n.starts_with("amqp://")) {
                errors.push(ConfigError::new(
                    "amqp_ca_file",
                    "is set but amqp_url uses plain amqp://: a CA file only verifies \
                     amqps:// nodes (use amqps:// URLs, or leave amqp_ca_file empty)",
                ));
            }
        }
        Err(e) => errors.push(ConfigError::new("amqp_url", e.to_string())),
    }
    if !ca_file.is_empty() {
        if let Err(e) = read_ca_file(ca_file) {
            errors.push(ConfigError::new("amqp_ca_file", e.to_string()));
        }
    }
    if !(0..=i64::from(MAX_QUORUM_GROUP_SIZE)).contains(&group_size) {
        errors.push(ConfigError::new(
            "amqp_quorum_group_size",
            format!(
                "must be between 0 (the broker's default) and {MAX_QUORUM_GROUP_SIZE}: \
                 a quorum queue needs at least one replica, and every write waits for a \
                 majority of them, so RabbitMQ advises against more than seven"
            ),
        ));
    }
    errors
}

/// `url` without its credentials, for logs: `scheme://host:port/vhost`.
pub fn node_label(url: &str) -> String {
    match url.parse::<AMQPUri>() {
        Ok(uri) => {
            let scheme = match uri.scheme {
                AMQPScheme::AMQP => "amqp",
                AMQPScheme::AMQPS => "amqps",
            };
            format!(
                "{scheme}://{}:{}/{}",
                uri.authority.host,
                uri.authority.port,
                percent_encode_vhost(&uri.vhost)
            )
        }
        Err(_) => crate::redact::url_password(url),
    }
}

fn percent_encode_vhost(vhost: &str) -> String {
    vhost.replace('%', "%25").replace('/', "%2f")
}

impl Brokers {
    /// The nodes of `list` (see [`parse_nodes`]), verified with the system's roots plus
    /// the PEM certificates of `ca_file` when it is not empty.
    ///
    /// # Errors
    /// A bad list or CA file ([`BrokersError`]).
    pub fn new(list: &str, ca_file: &str) -> Result<Self, BrokersError> {
        let nodes = parse_nodes(list)?;
        let ca_pem = if ca_file.is_empty() {
            None
        } else {
            Some(Arc::from(read_ca_file(ca_file)?))
        };
        let start = rand::random::<usize>() % nodes.len();
        Ok(Self {
            nodes: nodes.into(),
            ca_pem,
            next: Arc::new(AtomicUsize::new(start)),
        })
    }

    /// The node URLs, in the order configured (with their credentials).
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The nodes without credentials ([`node_label`]), for logs.
    pub fn labels(&self) -> Vec<String> {
        self.nodes.iter().map(|n| node_label(n)).collect()
    }

    /// The order the next [`Brokers::connect`] tries the nodes in (indexes into
    /// [`Brokers::nodes`]): every node once, starting after the last node connected to.
    pub fn order(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let start = self.next.load(Ordering::Relaxed) % n;
        (0..n).map(|i| (start + i) % n).collect()
    }

    /// Connects to the first node, in [`Brokers::order`], that completes the TCP, TLS and
    /// AMQP handshakes within `timeout` (each node gets its own `timeout`), and logs it.
    /// `properties` (e.g. the connection name the broker shows) are used for every try.
    ///
    /// # Errors
    /// [`ConnectError`] with every node's error when none answered.
    pub async fn connect(
        &self,
        properties: ConnectionProperties,
        timeout: Duration,
    ) -> Result<Connected, ConnectError> {
        let mut errors = Vec::new();
        for i in self.order() {
            let node = &self.nodes[i];
            let label = node_label(node);
            let tls = OwnedTLSConfig {
                identity: None,
                cert_chain: self.ca_pem.as_deref().map(str::to_owned),
            };
            let attempt = Connection::connect_with_config(node, properties.clone(), tls);
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(connection)) => {
                    self.next.store(i + 1, Ordering::Relaxed);
                    tracing::info!(node = %label, "connected to RabbitMQ");
                    return Ok(Connected {
                        connection,
                        node: label,
                    });
                }
                Ok(Err(e)) => {
                    tracing::debug!(node = %label, error = %e, "RabbitMQ node refused");
                    errors.push(format!("{label}: {e}"));
                }
                Err(_) => {
                    tracing::debug!(node = %label, "RabbitMQ node timed out");
                    errors.push(format!("{label}: timed out after {timeout:?}"));
                }
            }
        }
        Err(ConnectError(errors))
    }
}

/// `arguments` as a `lapin` field table.
pub fn field_table(arguments: &[protocol::topology::Argument]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in arguments {
        let value = match value {
            ArgumentValue::Text(s) => AMQPValue::LongString(LongString::from(*s)),
            ArgumentValue::Bool(b) => AMQPValue::Boolean(*b),
            ArgumentValue::Int(i) => AMQPValue::LongInt(*i),
        };
        table.insert((*name).into(), value);
    }
    table
}

/// The arguments of every shard queue, as a field table (for tests that declare shard
/// queues themselves).
pub fn shard_queue_arguments() -> FieldTable {
    field_table(&SHARD_QUEUE_ARGUMENTS)
}

/// Declares `exchange` (not auto-deleted, not internal, no arguments).
///
/// # Errors
/// The broker refused the declaration.
pub async fn declare_exchange(channel: &Channel, exchange: &Exchange) -> lapin::Result<()> {
    let kind = match exchange.kind {
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
    };
    channel
        .exchange_declare(
            &exchange.name,
            kind,
            ExchangeDeclareOptions {
                durable: exchange.durable,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Declares `queue`: not exclusive and not auto-deleted (it outlives any one consumer,
/// which is the point), durable as the data says, with its arguments.
///
/// # Errors
/// The broker refused the declaration (e.g. the queue exists with other arguments). A
/// refusal over the quorum group size is also logged with what to do about it.
pub async fn declare_queue(channel: &Channel, queue: &Queue) -> lapin::Result<()> {
    let declared = channel
        .queue_declare(
            &queue.name,
            QueueDeclareOptions {
                durable: queue.durable,
                ..QueueDeclareOptions::default()
            },
            field_table(&queue.arguments),
        )
        .await
        .map(|_| ());
    if let Err(e) = &declared {
        if e.to_string().contains(QUORUM_INITIAL_GROUP_SIZE) {
            // RabbitMQ compares the argument with the one the queue was created with,
            // and a mismatch stops every publish and consume of the deployment.
            tracing::error!(
                queue = %queue.name,
                error = %e,
                "the queue exists with another replica count: set amqp_quorum_group_size \
                 to the value it was created with (0 if it was created without one), on \
                 every gateway and worker"
            );
        }
    }
    declared
}

/// Binds `binding.queue` to `binding.exchange` by its routing key.
///
/// # Errors
/// The broker refused the binding (e.g. the queue or exchange does not exist).
pub async fn bind(channel: &Channel, binding: &Binding) -> lapin::Result<()> {
    channel
        .queue_bind(
            &binding.queue,
            &binding.exchange,
            &binding.routing_key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Declares the commands exchange, shard `shard`'s queue and its binding (a shard
/// consumer does this at the start of every session).
///
/// # Errors
/// The broker refused a declaration.
pub async fn declare_shard(
    channel: &Channel,
    topology: &Topology,
    shard: u16,
) -> lapin::Result<()> {
    declare_exchange(channel, &topology.commands_exchange()).await?;
    declare_queue(channel, &topology.shard_queue(shard)).await?;
    bind(channel, &topology.shard_binding(shard)).await
}

/// Declares the commands exchange and every shard queue with its binding: what a
/// publisher needs before its first command.
///
/// # Errors
/// The broker refused a declaration.
#[instrument(skip_all, fields(shards = topology.shards()))]
pub async fn declare_commands(channel: &Channel, topology: &Topology) -> lapin::Result<()> {
    declare_exchange(channel, &topology.commands_exchange()).await?;
    for shard in 0..topology.shards() {
        declare_queue(channel, &topology.shard_queue(shard)).await?;
        bind(channel, &topology.shard_binding(shard)).await?;
    }
    Ok(())
}

/// Declares the dead-letter queue of `names`' namespace (the worker's alone).
///
/// # Errors
/// The broker refused the declaration.
pub async fn declare_dead_letters(channel: &Channel, names: &AmqpNames) -> lapin::Result<()> {
    declare_queue(channel, &protocol::topology::dead_letter_queue(names)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_url_or_a_list() {
        assert_eq!(
            parse_nodes("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(),
            ["amqp://guest:guest@127.0.0.1:5672/%2f"]
        );
        assert_eq!(
            parse_nodes("amqp://a:b@h1:5681/%2f, amqp://a:b@h2:5682/%2f,amqp://h3").unwrap(),
            [
                "amqp://a:b@h1:5681/%2f",
                "amqp://a:b@h2:5682/%2f",
                "amqp://h3"
            ]
        );
        // A comma inside a password does not split the list.
        assert_eq!(
            parse_nodes("amqps://u:p,q@h1/%2f,amqps://u:p,q@h2/%2f").unwrap(),
            ["amqps://u:p,q@h1/%2f", "amqps://u:p,q@h2/%2f"]
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        let err = |list: &str| parse_nodes(list).unwrap_err().to_string();
        assert!(err("").contains("at least one"));
        assert!(
            err(" , ").contains("must start with amqp://"),
            "{}",
            err(" , ")
        );
        assert!(err("http://h:5672").contains("must start with amqp://"));
        assert!(err("amqp://h1,redis://h2").contains("entry 2"));
        assert!(err("amqp://h1,amqps://h2").contains("mixes"));
        assert!(err("amqp://h1:notaport").contains("not a usable AMQP URL"));
        assert!(err("amqp://h1,,amqp://h2").contains("no usable host"));
    }

    #[test]
    fn settings_check_names_each_problem() {
        let keys = |url: &str, ca: &str, size: i64| -> Vec<String> {
            check_settings(url, ca, size)
                .into_iter()
                .map(|e| e.key)
                .collect()
        };
        assert!(keys("amqp://h", "", 0).is_empty());
        assert!(keys("amqp://h", "", 7).is_empty());
        assert_eq!(keys("amqp://h", "", -1), ["amqp_quorum_group_size"]);
        assert_eq!(keys("amqp://h", "", 8), ["amqp_quorum_group_size"]);
        assert_eq!(keys("ftp://h", "", 0), ["amqp_url"]);
        assert_eq!(
            keys("amqps://h", "/nonexistent/ca.pem", 0),
            ["amqp_ca_file"]
        );
        let dir = std::env::temp_dir().join(format!("anteroom-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "just text\n").unwrap();
        let not_pem = not_pem.to_str().unwrap();
        let message = check_settings("amqps://h", not_pem, 0)[0].message.clone();
        assert!(message.contains("no PEM certificate"), "{message}");
        let pem = dir.join("ca.pem");
        std::fs::write(&pem, TEST_CERTIFICATE).unwrap();
        let pem = pem.to_str().unwrap();
        assert!(keys("amqps://h", pem, 3).is_empty());
        // A CA with plain amqp:// is a mistake: nothing would be verified.
        assert_eq!(keys("amqp://h", pem, 0), ["amqp_ca_file"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A self-signed certificate (its key thrown away), only read here.
    const TEST_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBkDCCATWgAwIBAgIUQ/H4RpbBTxan8ZZiFR/9ukSrtAEwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSYW50ZXJvb20gdGVzdCByb290MB4XDTI2MTIwNDIwMzM0MVoX
DTM2MTIwMTIwMzM0MVowHTEbMBkGA1UEAwwSYW50ZXJvb20gdGVzdCByb290MFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7+SkjYPdQ/tfBIAoOi0+fj0d7yZP2Anr
4wxWLN5kcGnokQ7z7iDvcX/AOceP/58MlwE6/iw/ufkyxmVN3MByh6NTMFEwHQYD
VR0OBBYEFKP32tMZBKf06ce0FsqfSrV4VdWEMB8GA1UdIwQYMBaAFKP32tMZBKf0
6ce0FsqfSrV4VdWEMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh
AILnFNOvtEjF8aSs8lehHtZq+HNPfAge+wOdrOjsHhl4AiEAzNYgUrEPyYXql3KD
s7Nnxhb1i99+/Sq+VeJXNK1757M=
-----END CERTIFICATE-----
";

    #[test]
    fn labels_carry_no_credentials() {
        assert_eq!(
            node_label("amqps://guest:s3cret@localhost:5691/%2f"),
            "amqps://localhost:5691/%2f"
        );
        assert_eq!(node_label("amqp://u:p@h/vh"), "amqp://h:5672/vh");
    }

    #[test]
    fn rotation_starts_after_the_last_node_connected_to() {
        let brokers = Brokers::new("amqp://h1,amqp://h2,amqp://h3", "").unwrap();
        let first = brokers.order();
        assert_eq!(first.len(), 3);
        brokers.next.store(2, Ordering::Relaxed);
        assert_eq!(brokers.order(), [2, 0, 1]);
        brokers.next.store(3, Ordering::Relaxed);
        assert_eq!(brokers.order(), [0, 1, 2]);
    }

    proptest! {
        /// Every rotation visits every node exactly once, in cyclic order.
        #[test]
        fn every_order_is_a_rotation(n in 1usize..8, next in 0usize..64) {
            let list: Vec<String> = (0..n).map(|i| format!("amqp://h{i}")).collect();
            let brokers = Brokers::new(&list.join(","), "").unwrap();
            brokers.next.store(next, Ordering::Relaxed);
            let order = brokers.order();
            prop_assert_eq!(order.len(), n);
            for (k, i) in order.iter().enumerate() {
                prop_assert_eq!(*i, (next + k) % n);
            }
            prop_assert_eq!(brokers.nodes().len(), n);
        }

        /// Any list of well-formed URLs, joined with commas (and spaces), parses back
        /// into the same URLs.
        #[test]
        fn lists_parse_back(
            hosts in prop::collection::vec("[a-z][a-z0-9]{0,8}", 1..6),
            password in "[a-zA-Z0-9,;!]{1,12}",
            tls in any::<bool>(),
            space in any::<bool>(),
        ) {
            let scheme = if tls { "amqps" } else { "amqp" };
            let urls: Vec<String> = hosts
                .iter()
                .enumerate()
                .map(|(i, h)| format!("{scheme}://user:{password}@{h}:{}/%2f", 5600 + i))
                .collect();
            let list = urls.join(if space { ", " } else { "," });
            prop_assert_eq!(parse_nodes(&list).unwrap(), urls);
        }
    }

    /// The field table the shard queues were declared with by hand, built literally.
    #[test]
    fn shard_arguments_are_the_literal_table() {
        let mut expected = FieldTable::default();
        expected.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        expected.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        assert_eq!(shard_queue_arguments(), expected);
        let topology = Topology::new(AmqpNames::default(), 4);
        assert_eq!(field_table(&topology.shard_queue(3).arguments), expected);
    }

    #[test]
    fn dead_letter_arguments_are_the_literal_table() {
        let mut expected = FieldTable::default();
        expected.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        let topology = Topology::new(AmqpNames::default(), 4);
        assert_eq!(
            field_table(&topology.dead_letter_queue().arguments),
            expected
        );
    }
}

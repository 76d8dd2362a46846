//! `runtime::amqp` against a real RabbitMQ: the one of `ANTEROOM_TEST_AMQP_URL` (one URL
//! or a cluster's list; default the shared loopback broker), verified with
//! `ANTEROOM_TEST_AMQP_CA_FILE` for `amqps://`. Each test works on queues of its own
//! random name and deletes them.

use lapin::options::QueueDeleteOptions;
use lapin::{Connection, ConnectionProperties};
use protocol::names::AmqpNames;
use protocol::topology::{Queue, Topology};
use runtime::amqp::{Brokers, ConnectError};
use std::time::Duration;

/// A port nothing listens on: connecting is refused at once.
const DEAD_NODE: &str = "127.0.0.1:1";

fn amqp_url() -> String {
    std::env::var("ANTEROOM_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn amqp_ca_file() -> String {
    std::env::var("ANTEROOM_TEST_AMQP_CA_FILE").unwrap_or_default()
}

/// The test broker's first node with its host and port replaced by `hostport`.
fn same_node_at(hostport: &str) -> String {
    let first = runtime::redact::split_url_list(&amqp_url())[0].to_owned();
    let (scheme, rest) = first.split_once("://").expect("a URL");
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((u, a)) => (format!("{u}@"), a),
        None => (String::new(), rest),
    };
    let path = after.find('/').map_or("", |i| &after[i..]);
    format!("{scheme}://{userinfo}{hostport}{path}")
}

async fn connect(brokers: &Brokers) -> Result<runtime::amqp::Connected, ConnectError> {
    brokers
        .connect(ConnectionProperties::default(), Duration::from_secs(10))
        .await
}

fn unique_names() -> AmqpNames {
    AmqpNames::new(format!("t{}", uuid_like()))
}

fn uuid_like() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[tokio::test]
async fn a_dead_node_first_in_the_list_is_skipped() {
    let live = amqp_url();
    let list = format!("{},{live}", same_node_at(DEAD_NODE));
    let brokers = Brokers::new(&list, &amqp_ca_file()).expect("a valid list");
    let dead = runtime::amqp::node_label(&brokers.nodes()[0]);
    // Whatever the random start, every connect succeeds on a live node.
    for _ in 0..4 {
        let connected = connect(&brokers).await.expect("a live node answers");
        assert_ne!(connected.node, dead);
        assert!(connected.connection.status().connected());
        let _ = connected.connection.close(200, "done").await;
    }
}

#[tokio::test]
async fn no_live_node_is_an_error_naming_every_node_without_credentials() {
    let list = format!(
        "{},{}",
        same_node_at(DEAD_NODE),
        same_node_at("127.0.0.1:2")
    );
    let brokers = Brokers::new(&list, &amqp_ca_file()).unwrap();
    let error = connect(&brokers).await.err().expect("nothing listens");
    assert_eq!(error.0.len(), 2, "{error}");
    let text = error.to_string();
    assert!(
        text.contains("127.0.0.1:1") && text.contains("127.0.0.1:2"),
        "{text}"
    );
    assert!(!text.contains("guest:guest"), "{text}");
}

#[tokio::test]
async fn reconnecting_moves_on_to_the_next_node() {
    let brokers = Brokers::new(&amqp_url(), &amqp_ca_file()).unwrap();
    let n = brokers.nodes().len();
    let first = connect(&brokers).await.expect("connects");
    let after_first = brokers.order();
    let second = connect(&brokers).await.expect("connects");
    // Each connect starts after the node the previous one reached, so on a healthy
    // cluster consecutive connections go to consecutive nodes.
    assert_eq!(after_first.len(), n);
    if n > 1 {
        assert_ne!(first.node, second.node);
    }
    let _ = first.connection.close(200, "done").await;
    let _ = second.connection.close(200, "done").await;
}

/// With `amqps://`, the certificate is verified: the configured CA is needed.
#[tokio::test]
async fn tls_is_verified_against_the_configured_ca() {
    let url = amqp_url();
    let brokers = Brokers::new(&url, &amqp_ca_file()).unwrap();
    let connected = connect(&brokers).await.expect("connects");
    let _ = connected.connection.close(200, "done").await;
    if url.starts_with("amqps://") {
        assert!(
            !amqp_ca_file().is_empty(),
            "amqps:// tests need the CA in ANTEROOM_TEST_AMQP_CA_FILE"
        );
        let system_roots_only = Brokers::new(&url, "").unwrap();
        let error = connect(&system_roots_only)
            .await
            .err()
            .expect("a private CA is not among the system's roots");
        assert!(
            error.to_string().to_lowercase().contains("certificate"),
            "{error}"
        );
    } else {
        // Speaking TLS to a plain AMQP port fails: the client does not fall back.
        let tls_to_plain = same_node_at(&authority(&url)).replacen("amqp://", "amqps://", 1);
        let brokers = Brokers::new(&tls_to_plain, "").unwrap();
        assert!(connect(&brokers).await.is_err());
    }
}

fn authority(url: &str) -> String {
    let first = runtime::redact::split_url_list(url)[0];
    let rest = first.split_once("://").unwrap().1;
    let rest = rest.split('/').next().unwrap();
    rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_owned()
}

async fn declare(connection: &Connection, queue: &Queue) -> lapin::Result<()> {
    let channel = connection.create_channel().await?;
    let declared = runtime::amqp::declare_queue(&channel, queue).await;
    let _ = channel.close(200, "done").await;
    declared
}

async fn delete(connection: &Connection, name: &str) {
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_delete(name, QueueDeleteOptions::default())
        .await
        .unwrap();
}

/// What RabbitMQ (3.10) does when a quorum queue is declared again with another
/// `x-quorum-initial-group-size` than it was created with, or without it when it was
/// created with one, or with one when it was created without: `PRECONDITION_FAILED`
/// for every difference, so `amqp_quorum_group_size` must stay what the deployment's
/// queues were created with (0, the default, leaves the argument out).
#[tokio::test]
async fn another_group_size_on_an_existing_queue_is_refused() {
    let brokers = Brokers::new(&amqp_url(), &amqp_ca_file()).unwrap();
    let connection = connect(&brokers).await.expect("connects").connection;
    for created in [0u8, 1, 3] {
        for again in [0u8, 1, 3, 7] {
            let topology = Topology::new(unique_names(), 1);
            let queue = topology.shard_queue(0).name;
            let sized = |n: u8| topology.clone().with_quorum_group_size(n).shard_queue(0);
            declare(&connection, &sized(created))
                .await
                .unwrap_or_else(|e| panic!("created with group size {created}: {e}"));
            let redeclared = declare(&connection, &sized(again)).await;
            if created == again {
                redeclared.unwrap_or_else(|e| panic!("same group size {again} refused: {e}"));
            } else {
                let message = redeclared
                    .expect_err("another group size is refused")
                    .to_string();
                assert!(
                    message.contains("PRECONDITION_FAILED")
                        && message.contains("x-quorum-initial-group-size"),
                    "created {created}, again {again}: {message}"
                );
            }
            delete(&connection, &queue).await;
        }
    }
    let _ = connection.close(200, "done").await;
}

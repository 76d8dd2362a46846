//! A list of RabbitMQ nodes whose first entries are dead addresses: the worker and the
//! gateways connect past them and a hold is decided and stored as with one broker.

use crate::helpers::{open_event_spec, select, spawn_app_with_both};
use protocol::reply::Hold;

/// Dead addresses placed before the live nodes: each process starts at a random entry
/// of the list, so with five dead ones out of six or more entries nearly every process
/// of the test meets one or more of them before a live node.
const DEAD_PORTS: [u16; 5] = [1, 2, 3, 4, 5];

/// `live` (one URL or a list) with dead loopback addresses of the same scheme and
/// credentials in front.
fn dead_nodes_first(live: &str) -> String {
    let first = runtime::redact::split_url_list(live)[0];
    let (scheme, rest) = first.split_once("://").expect("an AMQP URL");
    let userinfo = rest.rsplit_once('@').map_or("", |(u, _)| u);
    let dead: Vec<String> = DEAD_PORTS
        .iter()
        .map(|port| format!("{scheme}://{userinfo}@127.0.0.1:{port}/%2f"))
        .collect();
    format!("{},{live}", dead.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_worker_skip_dead_nodes_of_the_list() {
    let app = spawn_app_with_both(
        |gateway| gateway.amqp_url = dead_nodes_first(&gateway.amqp_url),
        |worker| worker.amqp_url = dead_nodes_first(&worker.amqp_url),
    )
    .await;
    assert_eq!(
        runtime::redact::split_url_list(&app.gateway_settings.amqp_url).len(),
        DEAD_PORTS.len() + runtime::redact::split_url_list(&testkit::amqp_url()).len()
    );
    // A second replica on the same list, to meet the dead nodes from another start.
    let replica = app.spawn_ready_gateway(app.gateway_settings.clone()).await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    for (fan, (base, seat)) in fans
        .iter()
        .zip([(app.address.as_str(), "A-1-1"), (replica.as_str(), "A-1-2")])
    {
        let body = serde_json::to_string(&select(&[seat])).unwrap();
        let held = app.hold_raw(base, &event, &fan.pass, body, None).await;
        held.assert_status(201);
        let hold: Hold = held.json();
        assert_eq!(hold.seats, [seat]);
        // The worker stored the claim: PostgreSQL is the oracle, not the reply.
        let claimed: String = sqlx::query_scalar(
            "SELECT seat_id FROM seat_claims WHERE event_id = $1 AND hold_id = $2",
        )
        .bind(event.0)
        .bind(hold.id.0)
        .fetch_one(app.sql())
        .await
        .expect("the claim of the hold");
        assert_eq!(claimed, seat);
    }
}

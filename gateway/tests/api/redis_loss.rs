//! Redis may lose what the worker wrote (a restart without persistence, a failover):
//! the worker re-writes every event's config and availability periodically, so the
//! gateways find the event again without anyone re-creating it; a worker taking a
//! shard over also rewrites the documents of recent holds. A whole queue lost with
//! Redis's data (a flush, a restart without persistence, on a private Redis) keeps every
//! fan's place: their queue tokens and passes, the gateway's memory and the worker's
//! mirror put it back.

use crate::helpers::{
    eventually, minutes_ago, open_event_spec, spawn_app_with_both, ApiResponse, TestApp,
};
use base64::Engine as _;
use protocol::ids::EventId;
use protocol::names::RedisKeys;
use protocol::reply::Hold;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_restores_a_lost_event_config() {
    let app = spawn_app_with_both(|_| {}, |w| w.config_refresh_secs = 2).await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    app.hold_seats(&fan, &["A-1-1"]).await.assert_status(201);

    let keys = RedisKeys::new(app.namespace.clone());
    let mut conn = testkit::redis_conn().await;
    let lost: u64 = redis::cmd("DEL")
        .arg(keys.config(&event))
        .arg(keys.availability(&event))
        .query_async(&mut conn)
        .await
        .expect("Failed to delete the keys");
    assert_eq!(lost, 2, "the worker had written config and availability");

    // Both: the keys back in Redis (the gateway may answer from its cache meanwhile).
    eventually(
        Duration::from_secs(10),
        "the event to come back",
        || async {
            let exists: u64 = redis::cmd("EXISTS")
                .arg(keys.config(&event))
                .arg(keys.availability(&event))
                .query_async(&mut conn.clone())
                .await
                .expect("EXISTS failed");
            let p = app.public_event(&event).await;
            (exists == 2
                && p.status == 200
                && p.body["seats"] == json!({"total": 10, "available": 9}))
            .then_some(())
        },
    )
    .await;
    // And reservations carry on.
    app.hold_seats(&fan, &["A-1-2"]).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taking_over_worker_rewrites_lost_hold_documents() {
    let app = spawn_app_with_both(|_| {}, |_| {}).await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let held = app.hold_seats(&fan, &["A-1-1"]).await;
    held.assert_status(201);
    let hold: Hold = held.json();

    let keys = RedisKeys::new(app.namespace.clone());
    let mut conn = testkit::redis_conn().await;
    let lost: u64 = redis::cmd("DEL")
        .arg(keys.hold(&event, &hold.id))
        .query_async(&mut conn)
        .await
        .expect("Failed to delete the hold document");
    assert_eq!(lost, 1);
    app.get_hold(&hold.id, &fan.pass)
        .await
        .assert_error(404, "not_found");

    let _standby = app.spawn_worker(app.worker_settings.clone()).await;
    app.first_worker.cancel();
    let back = eventually(Duration::from_secs(15), "the hold document", || async {
        let r = app.get_hold(&hold.id, &fan.pass).await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(back.json::<Hold>(), hold);
}

// ----- a whole queue lost with Redis's data -----
//
// A private Redis per test (its own port, no persistence): these tests flush it or
// restart it, which must never happen to the shared one.

/// A `redis-server` started for one test, without persistence (a restart loses all).
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("Failed to start redis-server (is it installed?)");
        let redis = Self { child, port };
        let client = redis::Client::open(redis.url()).expect("redis url");
        let started = Instant::now();
        while client
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "private Redis did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn flushall(&self) {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut c = client.get_connection().expect("private Redis");
        redis::cmd("FLUSHALL")
            .query::<()>(&mut c)
            .expect("FLUSHALL");
    }

    /// Stops the server (its data is gone: no persistence) and starts a new one on the
    /// same port after `down`.
    fn restart(&mut self, down: Duration) {
        self.stop();
        std::thread::sleep(down);
        *self = Self::start_on(self.port);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("private Redis")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fan of the scenario: ticket, queue token, arrival number (from the token).
#[derive(Debug, Clone)]
struct InLine {
    ticket: String,
    token: String,
    seq: u64,
}

fn token_seq(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("JWT payload");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["seq"].as_u64().expect("seq claim")
}

async fn join_fan(app: &TestApp, event: &EventId) -> InLine {
    let joined = app.join(event).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"]
        .as_str()
        .expect("queue_token")
        .to_owned();
    InLine {
        ticket: joined.body["ticket_id"]
            .as_str()
            .expect("ticket_id")
            .to_owned(),
        seq: token_seq(&token),
        token,
    }
}

/// A status poll with the queue token and, if any, the pass cookie (as a browser sends).
async fn poll(app: &TestApp, event: &EventId, fan: &InLine, pass: Option<&str>) -> ApiResponse {
    let mut req = app
        .client
        .get(app.url(&format!("/v1/events/{event}/queue")))
        .bearer_auth(&fan.token);
    if let Some(pass) = pass {
        req = req.header("cookie", format!("anteroom_pass={pass}"));
    }
    app.send(req).await
}

/// Polls until `200` (retrying `503`, as the fan page does), 20 s deadline.
async fn poll_until_ok(
    app: &TestApp,
    event: &EventId,
    fan: &InLine,
    pass: Option<&str>,
) -> ApiResponse {
    eventually(Duration::from_secs(20), "a 200 status", || async {
        let r = poll(app, event, fan, pass).await;
        assert!(
            matches!(r.status, 200 | 503),
            "status {} {} for {}",
            r.status,
            r.body,
            fan.ticket
        );
        (r.status == 200).then_some(r)
    })
    .await
}

fn seat_is(seats: &ApiResponse, id: &str, status: &str) -> bool {
    seats.body["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["seats"].as_array().into_iter().flatten())
        .any(|s| s["id"] == id && s["status"] == status)
}

async fn waiting_order(
    conn: &mut redis::aio::MultiplexedConnection,
    app: &TestApp,
    event: &EventId,
) -> Vec<String> {
    let key = format!("{}:{{{event}}}:waiting", app.namespace);
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .expect("ZRANGE waiting")
}

const PREQUEUE_FANS: usize = 60;
const LATER_FANS: usize = 240;
const MAX_ACTIVE: u32 = 30;

/// A queue of 300 fans (60 through the pre-queue lottery, 30 of them admitted up to
/// `max_active`, 240 waiting behind) loses Redis's data by `lose`; afterwards every fan
/// keeps their place relative to the others, a newcomer queues behind all of them, the
/// admitted keep working passes and no more passes than `max_active` are live, nothing
/// is sold twice and the seat map is right again within 2 s.
async fn a_queue_survives(lose: impl FnOnce(&mut PrivateRedis)) {
    let mut private = PrivateRedis::start();
    let url = private.url();
    let (g_url, w_url) = (url.clone(), url.clone());
    let app = spawn_app_with_both(
        move |g| {
            g.redis_url = g_url;
            (g.redis_mode, g.redis_ca_file) = ("standalone".into(), String::new());
        },
        move |w| {
            w.redis_url = w_url;
            (w.redis_mode, w.redis_ca_file) = ("standalone".into(), String::new());
        },
    )
    .await;

    let mut spec = open_event_spec(10, 10);
    spec.prequeue_opens_at = Some(minutes_ago(1));
    spec.opens_at = minutes_ago(0) + chrono::Duration::seconds(6);
    spec.admission.rate_per_minute = 1_200;
    spec.admission.max_active = MAX_ACTIVE;
    let opens_at = spec.opens_at;
    let event = app.create_event(&spec).await;

    // The pre-queue, then (after the lottery) the later arrivals.
    let early: Vec<InLine> =
        futures::future::join_all((0..PREQUEUE_FANS).map(|_| join_fan(&app, &event))).await;
    assert!(
        chrono::Utc::now() < opens_at,
        "the pre-queue closed too early"
    );
    let record = eventually(Duration::from_secs(20), "the lottery record", || async {
        let r = app
            .send(
                app.client
                    .get(app.url(&format!("/v1/events/{event}/prequeue"))),
            )
            .await;
        (r.status == 200 && r.body["shuffled"] == true).then_some(r)
    })
    .await;
    let order: Vec<String> = record.body["order"]
        .as_array()
        .expect("order")
        .iter()
        .map(|t| t.as_str().expect("ticket id").to_owned())
        .collect();
    assert_eq!(order.len(), PREQUEUE_FANS);
    let mut later = Vec::with_capacity(LATER_FANS);
    for _ in 0..LATER_FANS / 40 {
        later.extend(futures::future::join_all((0..40).map(|_| join_fan(&app, &event))).await);
    }
    let everyone: Vec<InLine> = early.iter().chain(&later).cloned().collect();
    let by_ticket: HashMap<String, InLine> = everyone
        .iter()
        .map(|f| (f.ticket.clone(), f.clone()))
        .collect();

    // Admission fills max_active from the front of the lottery order.
    let mut conn = private.conn().await;
    let active_key = format!("{}:{{{event}}}:active", app.namespace);
    eventually(Duration::from_secs(20), "max_active passes", || async {
        let n: u64 = redis::cmd("ZCARD")
            .arg(&active_key)
            .query_async(&mut conn.clone())
            .await
            .expect("ZCARD");
        (n == u64::from(MAX_ACTIVE)).then_some(())
    })
    .await;
    // One seat sold: the buyer's pass is used up, and admission lets the next one in.
    let first = by_ticket[&order[0]].clone();
    let buyer_pass = poll_until_ok(&app, &event, &first, None).await.body["pass"]
        .as_str()
        .expect("the lottery's first is admitted")
        .to_owned();
    let held = app
        .hold(
            &event,
            &buyer_pass,
            &crate::helpers::select(&["A-1-1"]),
            None,
        )
        .await;
    let held = app.settle(held, &buyer_pass).await;
    held.assert_status(201);
    let hold: Hold = held.json();
    let confirmed = app.confirm(&hold.id, &buyer_pass, "pay-1", None).await;
    app.settle(confirmed, &buyer_pass).await.assert_status(200);
    let next = by_ticket[&order[MAX_ACTIVE as usize]].clone();
    eventually(Duration::from_secs(10), "the next one admitted", || async {
        let r = poll(&app, &event, &next, None).await;
        (r.body["state"] == "admitted").then_some(())
    })
    .await;
    let mut passes: HashMap<String, String> = HashMap::new();
    for fan in &everyone {
        let r = poll_until_ok(&app, &event, fan, None).await;
        if r.body["state"] == "admitted" {
            passes.insert(
                fan.ticket.clone(),
                r.body["pass"].as_str().expect("pass").to_owned(),
            );
        } else {
            assert_eq!(r.body["state"], "waiting", "{}", r.body);
        }
    }
    assert_eq!(
        passes.len(),
        MAX_ACTIVE as usize + 1,
        "max_active, and the buyer"
    );
    assert!(
        order[..=MAX_ACTIVE as usize]
            .iter()
            .all(|t| passes.contains_key(t)),
        "the lottery's first were admitted"
    );
    eventually(
        Duration::from_secs(10),
        "the sale in the seat map",
        || async {
            let s = app.seats(&event, &passes[&order[1]]).await;
            seat_is(&s, "A-1-1", "sold").then_some(())
        },
    )
    .await;
    let before = waiting_order(&mut conn, &app, &event).await;
    assert_eq!(
        before.len(),
        PREQUEUE_FANS + LATER_FANS - MAX_ACTIVE as usize - 1
    );

    // The loss. One waiting fan polls every 100 ms throughout, as a page would.
    let watcher_fan = by_ticket[&before[5]].clone();
    let lost_at = Instant::now();
    lose(&mut private);
    // Redis answers again (at once for a flush; after the restart otherwise).
    let back_at = Instant::now();
    let mut conn = private.conn().await;
    let mut codes: Vec<(Duration, u16)> = Vec::new();
    let mut seat_map_back = None;
    let back = loop {
        let r = poll(&app, &event, &watcher_fan, None).await;
        codes.push((lost_at.elapsed(), r.status));
        if seat_map_back.is_none() {
            let s = app.seats(&event, &passes[&order[1]]).await;
            if s.status == 200 && seat_is(&s, "A-1-1", "sold") {
                seat_map_back = Some(back_at.elapsed());
            }
        }
        if r.status == 200 && seat_map_back.is_some() {
            break r;
        }
        assert!(
            matches!(r.status, 200 | 503),
            "during the loss a fan saw {} {}",
            r.status,
            r.body
        );
        assert!(
            lost_at.elapsed() < Duration::from_secs(20),
            "no recovery: {codes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(back.body["state"], "waiting", "{}", back.body);
    let unavailable: Vec<_> = codes.iter().filter(|(_, c)| *c != 200).collect();
    eprintln!(
        "loss: {} polls, {} answered 503 (last at {:?} after the loss began); seat map right {:?} after Redis answered again",
        codes.len(),
        unavailable.len(),
        unavailable.last().map(|(t, _)| *t),
        seat_map_back
    );
    let seat_map_back = seat_map_back.expect("seat map");
    assert!(
        seat_map_back <= Duration::from_millis(2_500),
        "seat map right only after {seat_map_back:?}"
    );

    // Every fan polls (the admitted with their pass cookie, as a browser sends it), again
    // until Redis holds every waiting fan: a poll the replica answered from its cache
    // before it noticed the loss restores nothing, the fan's next poll does.
    let restore_by = Instant::now() + Duration::from_secs(20);
    let states = loop {
        let mut states: HashMap<String, String> = HashMap::new();
        for fan in &everyone {
            let r = poll_until_ok(
                &app,
                &event,
                fan,
                passes.get(&fan.ticket).map(String::as_str),
            )
            .await;
            states.insert(
                fan.ticket.clone(),
                r.body["state"].as_str().unwrap().to_owned(),
            );
        }
        let waiting = waiting_order(&mut conn, &app, &event).await.len();
        if waiting >= before.len() || Instant::now() > restore_by {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (ticket, state) in &states {
        let want = if passes.contains_key(ticket) {
            "admitted"
        } else {
            "waiting"
        };
        assert_eq!(state, want, "{ticket} came back {state}");
    }
    // A newcomer joins behind all of them.
    let newcomer = join_fan(&app, &event).await;
    let max_seq = everyone.iter().map(|f| f.seq).max().unwrap();
    assert!(
        newcomer.seq > max_seq,
        "newcomer seq {} <= {max_seq}",
        newcomer.seq
    );

    // Redis's own order: everyone who waited, in the same order, the newcomer last.
    let after = waiting_order(&mut conn, &app, &event).await;
    let mut want = before.clone();
    want.push(newcomer.ticket.clone());
    let first_difference = after.iter().zip(&want).position(|(a, w)| a != w);
    assert!(
        after == want,
        "the waiting order changed: {} in Redis, {} expected, first difference at {:?}: {:?}",
        after.len(),
        want.len(),
        first_difference,
        first_difference.map(|i| (&after[i], &want[i]))
    );
    let s = poll_until_ok(&app, &event, &newcomer, None).await;
    assert_eq!(s.body["state"], "waiting");
    assert!(
        s.body["position"].as_u64().unwrap() as usize > before.len(),
        "newcomer at {}",
        s.body["position"]
    );

    // Passes: still working, and never more live than max_active (the admitted still
    // hold live passes, so admission must pass nobody).
    let other = order[2].clone();
    let held = app
        .hold(
            &event,
            &passes[&other],
            &crate::helpers::select(&["A-1-2"]),
            None,
        )
        .await;
    app.settle(held, &passes[&other]).await.assert_status(201);
    tokio::time::sleep(Duration::from_millis(
        gateway::queue::restore::RESTORE_GRACE_MS + 2_000,
    ))
    .await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let live: u64 = redis::cmd("ZCOUNT")
        .arg(&active_key)
        .arg(format!("({now_ms}"))
        .arg("+inf")
        .query_async(&mut conn)
        .await
        .expect("ZCOUNT");
    assert!(live <= u64::from(MAX_ACTIVE), "{live} live passes");
    let mut admitted_now = HashSet::new();
    for fan in &everyone {
        let r = poll_until_ok(
            &app,
            &event,
            fan,
            passes.get(&fan.ticket).map(String::as_str),
        )
        .await;
        if r.body["state"] == "admitted" {
            admitted_now.insert(fan.ticket.clone());
        }
    }
    assert_eq!(
        admitted_now,
        passes.keys().cloned().collect::<HashSet<_>>(),
        "admitted while max_active passes were live"
    );

    // An admitted fan leaves: the head of the line, and only they, get in.
    let leaver = by_ticket[&order[3]].clone();
    let left = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/events/{event}/queue")))
                .bearer_auth(&leaver.token),
        )
        .await;
    left.assert_status(204);
    let head = by_ticket[&before[0]].clone();
    eventually(
        Duration::from_secs(10),
        "the head of the line admitted",
        || async {
            let r = poll(&app, &event, &head, None).await;
            (r.body["state"] == "admitted").then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = poll(&app, &event, &by_ticket[&before[1]], None).await;
    assert_eq!(second.body["state"], "waiting", "{}", second.body);

    // Nothing sold twice, by PostgreSQL's own tables.
    let db_url = testkit::db::database_url(&app.db_name);
    let verify = Command::new("psql")
        .arg(&db_url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/verify.sql"))
        .output()
        .expect("psql");
    assert!(
        verify.status.success(),
        "verify.sql: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_keeps_everyone_in_line() {
    a_queue_survives(|redis| redis.flushall()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_persistence_keeps_everyone_in_line() {
    a_queue_survives(|redis| redis.restart(Duration::from_secs(1))).await;
}

//! `probe`: the bare baseline of the gateway benchmark (`bench/gateway/run.sh`).
//!
//! An axum server with nothing the gateway has around its handlers (no middleware, no
//! limits, no config cache), so the bench can say what share of the bare cost the
//! gateway's join and status cost:
//!
//! - `POST /probe/join`: signs an HS256 queue token (the gateway's claims, with
//!   `jsonwebtoken`) and does one `ZADD` to Redis; `201 {"ticket_id", "queue_token"}`.
//! - `GET /probe/json`: a small JSON (a Status-sized body), no IO.
//!
//! The same runtime (tokio multi-thread), Redis client (`ConnectionManager`, one
//! multiplexed connection) and JSON stack as the gateway.
//!
//! `probe --port 18090 --redis-url redis://127.0.0.1:6379 --key bench:probe:waiting`

use anyhow::Context;

/// The gateway's allocator (`src/main.rs`), so both sides of the comparison have the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use protocol::claims::{QueueClaims, TokenKind};
use protocol::ids::{EventId, TicketId};
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "probe",
    about = "Bare baseline server of the gateway benchmark"
)]
struct Cli {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0 = ephemeral; the bound port is printed).
    #[arg(long, default_value_t = 18090)]
    port: u16,
    /// Redis for the `ZADD`.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Sorted set the joins go to (delete it after the bench).
    #[arg(long, default_value = "anteroom_probe:waiting")]
    key: String,
}

struct Probe {
    redis: ConnectionManager,
    key: String,
    signing: EncodingKey,
    event: EventId,
    seq: AtomicU64,
}

#[derive(serde::Serialize)]
struct Joined {
    ticket_id: TicketId,
    queue_token: String,
}

async fn join(State(p): State<Arc<Probe>>) -> Result<(StatusCode, Json<Joined>), StatusCode> {
    let ticket = TicketId::new();
    let seq = p.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let now = chrono::Utc::now().timestamp();
    let claims = QueueClaims {
        sub: ticket,
        aud: p.event.to_string(),
        seq,
        iat: now,
        exp: now + 86_400,
        kind: TokenKind::Queue,

        user_ref: None,
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &p.signing)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let mut conn = p.redis.clone();
    redis::cmd("ZADD")
        .arg(&p.key)
        .arg(seq)
        .arg(ticket.to_string())
        .query_async::<()>(&mut conn)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok((
        StatusCode::CREATED,
        Json(Joined {
            ticket_id: ticket,
            queue_token: token,
        }),
    ))
}

async fn json() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "ticket_id": "0190a8f2-1c3b-7def-8a00-0000000000aa",
        "event_id": "0190a8f2-1c3b-7def-8a00-0000000000bb",
        "state": "waiting",
        "position": 1532, "ahead": 1531,
        "eta_seconds": 153, "eta_range_seconds": [140, 170],
        "poll_after_ms": 5000
    }))
}

/// Completes on Ctrl-C or SIGTERM, as the gateway's own shutdown does.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = redis::Client::open(cli.redis_url.as_str()).context("Bad Redis URL")?;
    let redis = ConnectionManager::new(client)
        .await
        .context("Failed to connect to Redis")?;
    let secret: [u8; 32] = rand::random();
    let probe = Arc::new(Probe {
        redis,
        key: cli.key,
        signing: EncodingKey::from_secret(&secret),
        event: EventId::new(),
        seq: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/probe/join", post(join))
        .route("/probe/json", get(json))
        .with_state(probe);
    let listener = tokio::net::TcpListener::bind((cli.host.as_str(), cli.port))
        .await
        .with_context(|| format!("Failed to bind {}:{}", cli.host, cli.port))?;
    println!("probe listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("probe server failed")
}

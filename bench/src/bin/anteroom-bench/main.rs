//! `anteroom-bench`: reservations committed per second on one shard, three designs, the
//! same seeded workload, one run each, every run on a fresh database and namespace:
//!
//! - (a) Anteroom's group commit: the real worker (`batch_max_commands` default);
//! - (b) one transaction per command: the same worker with `batch_max_commands = 1`;
//! - (c) lock per seat: `SET NX EX` per seat in Redis, one PostgreSQL transaction per
//!   reservation, unlock (`lockseat`), with `--clients` concurrent clients;
//!
//! each with uniform seat choice and with a hot section (`workload`), then (a) at a fixed
//! offered rate for latency. Prints one table (committed/s, decided/s, p50/p99 hold
//! latency: publish to reply for (a)/(b), first `SET` to unlock for (c)) and the ratio
//! (a)/(c).
//!
//! `cargo run --release -p anteroom-bench --bin anteroom-bench -- --ops 50000`

mod anteroom;
mod client;
mod cpu;
mod env;
mod lockseat;
mod spans;
mod stats;
mod workload;

use anteroom::WorkerRun;
use clap::Parser;
use client::Pace;
use env::Services;
use lockseat::LockRun;
use spans::SpanTotals;
use stats::{print_cpu_table, print_table, RunResult};
use workload::{plan, Venue, Workload};

#[derive(Parser, Debug)]
#[command(
    name = "anteroom-bench",
    about = "Group commit vs one transaction per command vs lock per seat"
)]
struct Args {
    /// Holds per run.
    #[arg(long, default_value_t = 50_000)]
    ops: usize,
    /// Holds per run of (b), at most --ops: one transaction per command runs at a few
    /// hundred per second, so its runs are shorter (the rate is what counts).
    #[arg(long, default_value_t = 10_000)]
    ops_b: usize,
    /// Which runs: any of a, b, c, rate (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,rate")]
    designs: Vec<String>,
    /// Which workloads: uniform, hot.
    #[arg(long, value_delimiter = ',', default_value = "uniform,hot")]
    workloads: Vec<String>,
    /// Sections of the event (S00 is the hot one); each `rows` × `per_row` seats.
    #[arg(long, default_value_t = 20)]
    sections: u32,
    #[arg(long, default_value_t = 100)]
    rows: u32,
    #[arg(long, default_value_t = 100)]
    per_row: u32,
    /// Share of holds aimed at the hot section in the hot workload.
    #[arg(long, default_value_t = 0.8)]
    hot_share: f64,
    /// Commands in flight for (a)/(b) (publish to reply).
    #[arg(long, default_value_t = 2000)]
    window: usize,
    /// `batch_max_commands` of (a) and of the fixed-rate run (default: the worker's).
    #[arg(long)]
    batch_max_commands: Option<usize>,
    /// Commands per AMQP message of (a)/(b), as the gateway's `command_batch_max` (1 =
    /// one message per command). The closed loop publishes what its window allows at
    /// once, the fixed rate what is due each millisecond (the gateway's
    /// `command_batch_delay_us` is rounded up to tokio's 1 ms timer too).
    #[arg(long, default_value_t = 64)]
    command_batch_max: usize,
    /// Concurrent clients of (c).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// PostgreSQL connections of (c) (the shared server allows 100 in all).
    #[arg(long, default_value_t = 32)]
    pg_connections: u32,
    /// Offered holds per second of the fixed-rate runs of (a), one run each.
    #[arg(long, value_delimiter = ',', default_value = "5000,10000")]
    rate: Vec<f64>,
    /// Seconds of the fixed-rate run.
    #[arg(long, default_value_t = 10.0)]
    rate_secs: f64,
    /// Print where each worker run's time went (sums of the worker's tracing spans).
    #[arg(long)]
    spans: bool,
    /// Workload seed (same holds for every design).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Maintenance database; run databases are created next to it.
    #[arg(
        long,
        env = "ANTEROOM_BENCH_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    #[arg(
        long,
        env = "ANTEROOM_BENCH_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// `standalone`, or `cluster` (then --redis-url lists seed nodes, comma-separated).
    #[arg(long, env = "ANTEROOM_BENCH_REDIS_MODE", default_value = "standalone")]
    redis_mode: String,
    /// PEM file of the CA certificates for a rediss:// URL; empty: the system's roots.
    #[arg(long, env = "ANTEROOM_BENCH_REDIS_CA_FILE", default_value = "")]
    redis_ca_file: String,
    #[arg(
        long,
        env = "ANTEROOM_BENCH_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// PEM CA file verifying amqps:// nodes ("" = system roots).
    #[arg(long, env = "ANTEROOM_BENCH_AMQP_CA_FILE", default_value = "")]
    amqp_ca_file: String,
}

impl Args {
    fn runs(&self, design: &str) -> bool {
        self.designs.iter().any(|d| d == design)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let spans = args.spans.then(SpanTotals::default);
    init_tracing(spans.clone());
    let services = Services {
        database_url: args.database_url.clone(),
        redis_url: args.redis_url.clone(),
        redis_mode: args.redis_mode.clone(),
        redis_ca_file: args.redis_ca_file.clone(),
        amqp_url: args.amqp_url.clone(),
        amqp_ca_file: args.amqp_ca_file.clone(),
    };
    let venue = Venue {
        sections: args.sections,
        rows: args.rows,
        per_row: args.per_row,
    };
    eprintln!(
        "event of {} seats, holds of 1-4 seats, window {}, {} clients for (c); load {:.2}",
        venue.seats(),
        args.window,
        args.clients,
        stats::load_average()
    );
    let mut results = Vec::new();
    for name in &args.workloads {
        let workload = match name.as_str() {
            "uniform" => Workload::Uniform,
            "hot" => Workload::Hot,
            other => anyhow::bail!("unknown workload {other:?} (uniform, hot)"),
        };
        let holds = plan(&venue, workload, args.ops, args.hot_share, args.seed);
        let worker_run = |design: &str, batch: Option<usize>| WorkerRun {
            services: &services,
            venue,
            batch_max_commands: batch,
            // (b) is one command per transaction: one command per message too, since a
            // batch message is never split between transactions.
            command_batch_max: if batch == Some(1) {
                1
            } else {
                args.command_batch_max
            },
            pace: Pace::Window(args.window),
            design: design.into(),
            workload: workload.label(),
            spans: spans.clone(),
        };
        if args.runs("a") {
            let run = worker_run("(a) group commit", args.batch_max_commands);
            report(&mut results, spans.as_ref(), run.run(&holds).await?);
        }
        if args.runs("b") {
            let n = args.ops_b.min(holds.len());
            let run = worker_run("(b) txn per command", Some(1));
            report(&mut results, spans.as_ref(), run.run(&holds[..n]).await?);
        }
        if args.runs("c") {
            let run = LockRun {
                services: &services,
                venue,
                clients: args.clients,
                pg_connections: args.pg_connections,
                workload: workload.label(),
            };
            report(&mut results, spans.as_ref(), run.run(&holds).await?);
        }
    }
    if args.runs("rate") {
        for &rate in &args.rate {
            let n = (rate * args.rate_secs) as usize;
            let holds = plan(&venue, Workload::Uniform, n, args.hot_share, args.seed);
            let run = WorkerRun {
                services: &services,
                venue,
                batch_max_commands: args.batch_max_commands,
                command_batch_max: args.command_batch_max,
                pace: Pace::Rate(rate),
                design: format!("(a) at {rate:.0}/s offered"),
                workload: Workload::Uniform.label(),
                spans: spans.clone(),
            };
            report(&mut results, spans.as_ref(), run.run(&holds).await?);
        }
    }
    print_table(&results);
    print_cpu_table(&results);
    for &rate in &args.rate {
        let name = format!("(a) at {rate:.0}/s offered");
        if let Some(r) = results.iter().find(|r| r.design == name) {
            let p99 = r.quantile_ms(0.99);
            let target = if rate <= 5000.0 { 50.0 } else { 100.0 };
            let verdict = if p99 < target { "met" } else { "MISSED" };
            println!(
                "p99 at {rate:.0}/s offered: {p99:.1} ms (target < {target:.0} ms: {verdict})"
            );
        }
    }
    println!("load average now: {:.2}", stats::load_average());
    Ok(())
}

/// Logs warnings to stderr (`RUST_LOG` overrides); with `spans`, also adds up the
/// worker's span times.
fn init_tracing(spans: Option<SpanTotals>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,sqlx::query=error"));
    let timing = spans.map(|s| s.with_filter(EnvFilter::new("worker=info")));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(filter))
        .with(timing)
        .init();
}

/// Keeps `r` and prints its line at once (runs take a while), with its span times.
fn report(results: &mut Vec<RunResult>, spans: Option<&SpanTotals>, r: RunResult) {
    eprintln!(
        "{} {}: {} ops, {:.0} committed/s, {:.0} decided/s, p50 {:.1} ms, p99 {:.1} ms",
        r.design,
        r.workload,
        r.ops,
        r.committed_per_s(),
        r.decided_per_s(),
        r.quantile_ms(0.5),
        r.quantile_ms(0.99)
    );
    if let Some(totals) = spans.map(SpanTotals::take) {
        SpanTotals::print(&r.design, &totals);
    }
    results.push(r);
}

//! Designs (a) and (b): the real worker [`Application`], in this process, on one shard
//! of a fresh namespace and database, driven over RabbitMQ by [`Client`].
//! (b) is the same worker with `batch_max_commands = 1`: one transaction per command.

use crate::client::{Client, Pace, Prepared};
use crate::cpu;
use crate::env::{RunEnv, Services};
use crate::spans::SpanTotals;
use crate::stats::{load_average, RunResult};
use crate::workload::{HoldSeats, Venue};
use anyhow::{bail, Context};
use chrono::Utc;
use protocol::command::{Command, Envelope, SeatSelection};
use protocol::ids::{EventId, RequestId, TicketId};
use protocol::names::AmqpNames;
use protocol::reply::Outcome;
use secrecy::SecretString;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use worker::{Application, Settings};

/// One worker run.
pub(crate) struct WorkerRun<'a> {
    pub(crate) services: &'a Services,
    pub(crate) venue: Venue,
    /// `None`: the worker's default (group commit).
    pub(crate) batch_max_commands: Option<usize>,
    /// Commands per message on the wire (the gateway's `command_batch_max`).
    pub(crate) command_batch_max: usize,
    pub(crate) pace: Pace,
    pub(crate) design: String,
    pub(crate) workload: &'static str,
    /// Span sums to reset once the event exists (so they cover the load only).
    pub(crate) spans: Option<SpanTotals>,
}

impl WorkerRun<'_> {
    /// Runs `holds` against a fresh worker and removes everything afterwards.
    ///
    /// # Errors
    /// A service is unreachable, the event could not be created, or the load stalled.
    pub(crate) async fn run(&self, holds: &[HoldSeats]) -> anyhow::Result<RunResult> {
        let env = RunEnv::create(self.services).await?;
        let mut settings = Settings {
            database_url: SecretString::from(env.db_url.clone()),
            redis_url: self.services.redis_url.clone(),
            redis_mode: self.services.redis_mode.clone(),
            redis_ca_file: self.services.redis_ca_file.clone(),
            amqp_url: self.services.amqp_url.clone(),
            amqp_ca_file: self.services.amqp_ca_file.clone(),
            namespace: env.namespace.clone(),
            shards: 1,
            metrics_port: 0,
            ..Default::default()
        };
        if let Some(max) = self.batch_max_commands {
            settings.batch_max_commands = max;
        }
        let result = match Application::build(settings).await {
            Ok(app) => {
                let port = app.metrics_port();
                let stop = CancellationToken::new();
                let worker = tokio::spawn(app.run_until_stopped(stop.clone()));
                let result = self.drive(&env, port, holds).await;
                stop.cancel();
                match tokio::time::timeout(Duration::from_secs(30), worker).await {
                    Ok(Ok(Ok(()))) => {}
                    other => eprintln!("warning: the worker did not stop cleanly: {other:?}"),
                }
                result
            }
            Err(e) => Err(e),
        };
        env.remove().await;
        result
    }

    async fn drive(
        &self,
        env: &RunEnv,
        port: u16,
        holds: &[HoldSeats],
    ) -> anyhow::Result<RunResult> {
        let conn = self
            .services
            .amqp_connect()
            .await
            .context("Failed to connect to RabbitMQ")?;
        let mut client = Client::open(
            &conn,
            &AmqpNames::new(env.namespace.clone()),
            self.command_batch_max,
        )
        .await?;
        let event = EventId::new();
        let create = envelope(
            event,
            Command::CreateEvent {
                spec: self.venue.spec(),
            },
        );
        match client.request(&create, Duration::from_secs(120)).await? {
            Outcome::EventCreated(_) => {}
            other => bail!("the event was not created: {other:?}"),
        }
        let load: Vec<Prepared> = holds
            .iter()
            .map(|seats| {
                let hold = Command::Hold {
                    ticket_id: TicketId::new(),
                    selection: SeatSelection::Seats {
                        seats: seats
                            .iter()
                            .map(|s| s.parse().expect("a seat id"))
                            .collect(),
                    },
                    idempotency: None,
                    user_ref: None,
                };
                Prepared::new(&envelope(event, hold))
            })
            .collect();
        let before = batch_metrics(port).await?;
        if let Some(s) = &self.spans {
            s.take();
        }
        let load_avg = load_average();
        let cpu_before = cpu::snapshot(&self.services.database_url, &env.db_name).await?;
        let seen = client.run(&load, self.pace).await?;
        let cpu_after = cpu::snapshot(&self.services.database_url, &env.db_name).await?;
        let after = batch_metrics(port).await?;
        let _ = conn.close(200, "bench done").await;
        let batches = after.count - before.count;
        let batch = (batches > 0.0).then(|| {
            (
                (after.commands - before.commands) / batches,
                (after.commit_seconds - before.commit_seconds) * 1000.0
                    / (after.commits - before.commits).max(1.0),
            )
        });
        Ok(RunResult {
            design: self.design.clone(),
            workload: self.workload,
            ops: holds.len(),
            committed: seen.committed,
            decided: seen.decided,
            wall: seen.wall,
            latencies_us: seen.latencies_us,
            batch,
            load: load_avg,
            cpu: cpu::delta(&cpu_before, &cpu_after),
        })
    }
}

fn envelope(event: EventId, command: Command) -> Envelope {
    Envelope {
        request_id: RequestId::new(),
        event_id: event,
        sent_at: Utc::now(),
        command,
    }
}

/// Sums of the worker's batch histograms.
#[derive(Debug, Default)]
struct BatchMetrics {
    /// Batches (`anteroom_worker_batch_size_count`).
    count: f64,
    /// Commands in them.
    commands: f64,
    /// Batch transactions (`anteroom_worker_commit_seconds_count`) and their seconds.
    commits: f64,
    commit_seconds: f64,
}

/// Reads the batch histograms from the worker's `/metrics` (plain HTTP/1.0).
async fn batch_metrics(port: u16) -> anyhow::Result<BatchMetrics> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(BatchMetrics {
        count: value("anteroom_worker_batch_size_count"),
        commands: value("anteroom_worker_batch_size_sum"),
        commits: value("anteroom_worker_commit_seconds_count"),
        commit_seconds: value("anteroom_worker_commit_seconds_sum"),
    })
}

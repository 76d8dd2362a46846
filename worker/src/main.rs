//! `anteroom-worker`: thin entry point over the `worker` library.
//!
//! Subcommands: `serve` (default), `migrate` (run migrations and exit), `print-config` (or `--print-config`)
//! (effective settings, secrets redacted), `healthcheck` (GET its own `/healthz`, for
//! container health checks), `dead-letters list|replay|purge` (the namespace's dead
//! letters, see docs/DEAD_LETTERS.md). Global option `--config <file>` (TOML). A bad
//! configuration prints every problem to stderr and exits with code 2
//! (`runtime::settings::report`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use worker::repo::Repository;
use worker::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "anteroom-worker",
    version,
    about = "Anteroom reservation worker"
)]
struct Cli {
    /// TOML settings file (overridden by ANTEROOM_* environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective settings (secrets redacted) and exit; same as `print-config`.
    #[arg(long, global = true)]
    print_config: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Consume the shards and serve metrics (default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective settings (secrets redacted) and exit.
    PrintConfig,
    /// Exit 0 if this worker's /healthz answers 200 (for container health checks).
    Healthcheck,
    /// Inspect, replay or purge the namespace's dead letters (docs/DEAD_LETTERS.md).
    #[command(subcommand)]
    DeadLetters(DeadLettersCmd),
}

#[derive(Subcommand)]
enum DeadLettersCmd {
    /// List the dead letters (reason, shard, request id, event id, size, time), oldest
    /// first; they stay in the queue.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again to their shard, then remove them from the queue.
    Replay {
        /// Every dead letter.
        #[arg(
            long,
            conflicts_with = "request_id",
            required_unless_present = "request_id"
        )]
        all: bool,
        /// Only the dead letters of this request id.
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
    },
    /// Delete every dead letter.
    Purge,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(errors) => return Ok(runtime::settings::report(&errors)),
    };
    let command = if cli.print_config {
        Cmd::PrintConfig
    } else {
        cli.command.unwrap_or(Cmd::Serve)
    };
    let done = match command {
        Cmd::Serve => serve(settings).await,
        Cmd::Migrate => {
            runtime::telemetry::init(settings.log_json);
            Repository::connect(&settings).await?.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::PrintConfig => {
            print!("{}", settings.redacted());
            Ok(())
        }
        Cmd::Healthcheck => healthcheck(&settings).await,
        Cmd::DeadLetters(cmd) => dead_letters(&settings, cmd).await,
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `dead-letters list|replay|purge` against `settings.amqp_url`, in `settings.namespace`.
async fn dead_letters(settings: &Settings, cmd: DeadLettersCmd) -> anyhow::Result<()> {
    use worker::dead_letters;
    let topology = settings.topology();
    let names = topology.names();
    let properties = lapin::ConnectionProperties::default()
        .with_connection_name("anteroom-worker dead-letters".into());
    let connection = settings
        .brokers()?
        .connect(properties, Duration::from_secs(10))
        .await
        .context("Failed to connect to RabbitMQ")?
        .connection;
    let done = match cmd {
        DeadLettersCmd::List { json } => {
            let letters = dead_letters::list(&connection, &topology).await?;
            if json {
                for l in &letters {
                    println!("{}", serde_json::to_string(l)?);
                }
            } else {
                println!(
                    "{:<10} {:>5} {:<36} {:<36} {:>8} {:<24} ERROR",
                    "REASON", "SHARD", "REQUEST ID", "EVENT ID", "BYTES", "FIRST DEATH"
                );
                for l in &letters {
                    println!(
                        "{:<10} {:>5} {:<36} {:<36} {:>8} {:<24} {}",
                        l.reason,
                        l.shard.map_or_else(|| "-".into(), |s| s.to_string()),
                        l.request_id.as_deref().unwrap_or("-"),
                        l.event_id.as_deref().unwrap_or("-"),
                        l.size,
                        l.first_death.as_deref().unwrap_or("-"),
                        l.error.as_deref().unwrap_or("-"),
                    );
                }
                eprintln!(
                    "{} dead letter(s) in {}",
                    letters.len(),
                    names.dead_letter_queue()
                );
            }
            Ok(())
        }
        DeadLettersCmd::Replay { all, request_id } => {
            let select = match (all, request_id) {
                (_, Some(id)) => dead_letters::Select::RequestId(id),
                _ => dead_letters::Select::All,
            };
            let n = dead_letters::replay(&connection, &topology, &select).await?;
            eprintln!("{n} dead letter(s) replayed");
            Ok(())
        }
        DeadLettersCmd::Purge => {
            let n = dead_letters::purge(&connection, &topology).await?;
            eprintln!("{n} dead letter(s) purged");
            Ok(())
        }
    };
    let _ = connection.close(200, "done").await;
    done
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    runtime::telemetry::init(settings.log_json);
    let app = Application::build(settings).await?;
    let shutdown = CancellationToken::new();
    let stopped = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    runtime::shutdown::cancel_on_signal(shutdown).await;
    stopped.await.context("The worker task panicked")?
}

/// `GET /healthz` on the metrics server (loopback when it listens on every address),
/// with plain HTTP/1.0 (no client dependency).
async fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let host = match settings.metrics_host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        other => other,
    };
    let address = format!("{host}:{}", settings.metrics_port);
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .context("healthcheck timed out")?
        .with_context(|| format!("healthcheck could not reach {address}"))?;
    let head = String::from_utf8_lossy(&response[..response.len().min(32)]).to_string();
    if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {head}")
    }
}

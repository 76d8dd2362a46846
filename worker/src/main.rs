//! `anteroom-worker`: thin entry point over the `worker` library.
//!
//! Subcommands: `serve` (default), `migrate` (run migrations and exit), `print-config` (or `--print-config`)
//! (effective settings, secrets redacted), `healthcheck` (GET its own `/healthz`, for
//! container health checks). Global option `--config <file>` (TOML).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            std::process::exit(2);
        }
    };
    let command = if cli.print_config {
        Cmd::PrintConfig
    } else {
        cli.command.unwrap_or(Cmd::Serve)
    };
    match command {
        Cmd::Serve => serve(settings).await,
        Cmd::Migrate => {
            worker::telemetry::init(settings.log_json);
            Repository::connect(&settings).await?.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::PrintConfig => {
            print!("{}", settings.redacted());
            Ok(())
        }
        Cmd::Healthcheck => healthcheck(&settings).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    worker::telemetry::init(settings.log_json);
    let app = Application::build(settings).await?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    let stopped = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    shutdown_signal().await;
    tracing::info!("shutdown requested");
    signal.cancel();
    stopped.await.context("The worker task panicked")?
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
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

//! `anteroom-gateway`: thin CLI over the library.
//!
//! - `serve` (default): run the gateway until Ctrl-C / SIGTERM.
//! - `print-config` (or the flag `--print-config`): the effective configuration, secrets redacted.
//! - `healthcheck`: `GET /healthz` on the configured port; exit 0 if it answers 200
//!   (for container health checks, no curl needed).
//! - `verify-shuffle --seed <hex> --commitment <hex> --tickets <file> [--order <file>]`:
//!   checks a pre-queue lottery (`docs/LOTTERY.md`); prints the order, exits 1 if the seed does
//!   not match the commitment or the order differs from the published one.
//!
//! Global `--config <file>`: a TOML file layered between the defaults and the env. A bad
//! configuration prints every problem to stderr and exits with code 2
//! (`runtime::settings::report`); any other failure exits with code 1.

use anyhow::Context;

/// mimalloc instead of glibc malloc: a join or status poll makes dozens of small
/// allocations, and glibc's cost ~15 % of the gateway's CPU under load (measured with
/// `perf`; docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use gateway::settings::ConfigErrors;
use gateway::{Application, Settings};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "anteroom-gateway", version, about = "Anteroom gateway")]
struct Cli {
    /// TOML configuration file (between the embedded defaults and ANTEROOM_* env vars).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print the effective configuration (secrets redacted) and exit; same as `print-config`.
    #[arg(long, global = true)]
    print_config: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway (default).
    Serve,
    /// Print the effective configuration with secrets redacted.
    PrintConfig,
    /// Exit 0 if the local gateway answers GET /healthz with 200.
    Healthcheck,
    /// Recompute a pre-queue lottery and check it against the commitment and the
    /// published order (needs no configuration).
    VerifyShuffle {
        /// The revealed seed (hex), `shuffle_seed` of the event.
        #[arg(long)]
        seed: String,
        /// The commitment published before the pre-queue opened (hex SHA-256).
        #[arg(long)]
        commitment: String,
        /// The pre-queue's tickets: the `GET /v1/events/{id}/prequeue` JSON (its
        /// `order` is then checked too), a JSON array, or one ticket id per line.
        #[arg(long)]
        tickets: PathBuf,
        /// The published order to check (same formats), if not in the tickets file.
        #[arg(long)]
        order: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = cli.config.as_deref();
    let command = if cli.print_config {
        Cmd::PrintConfig
    } else {
        cli.command.unwrap_or(Cmd::Serve)
    };
    let result = match command {
        Cmd::Serve => serve(file).await,
        Cmd::PrintConfig => print_config(file),
        Cmd::Healthcheck => healthcheck(file).await,
        Cmd::VerifyShuffle {
            seed,
            commitment,
            tickets,
            order,
        } => gateway::queue::lottery::files::verify_files(
            &seed,
            &commitment,
            &tickets,
            order.as_deref(),
        )
        .map(|report| print!("{report}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast::<ConfigErrors>() {
            Ok(errors) => runtime::settings::report(&errors),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let settings = Settings::load(file)?;
    runtime::telemetry::init(settings.log_json);
    let app = Application::build(settings)
        .await
        .context("Failed to build the gateway")?;
    let shutdown = CancellationToken::new();
    tokio::spawn(runtime::shutdown::cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await
}

fn print_config(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let settings = Settings::extract(file)?;
    print!("{}", settings.redacted_toml());
    settings.validate()?;
    Ok(())
}

async fn healthcheck(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let settings = Settings::extract(file)?;
    let host = match settings.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        h => h,
    };
    let addr = format!("{host}:{}", settings.port);
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .with_context(|| format!("Failed to connect to {addr}"))?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let head = String::from_utf8_lossy(&response);
        anyhow::ensure!(
            head.starts_with("HTTP/1.1 200"),
            "unhealthy: {}",
            head.lines().next().unwrap_or("")
        );
        Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), check)
        .await
        .context("healthcheck timed out")?
}

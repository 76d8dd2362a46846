//! CPU time per component during a run's load phase, from `/proc/<pid>/stat` (user +
//! system time; the services run on this host). CPU time is much less distorted by
//! other load on the machine than wall time, so "ms of CPU per 1000 holds" says what
//! each design costs and which component limits it on a 2-core box.
//!
//! Components: this process (worker and load client, or the lock-per-seat clients),
//! the PostgreSQL backends connected to the run's database, PostgreSQL's WAL writer,
//! checkpointer and background writer (shared with anything else writing), RabbitMQ
//! (`beam.smp`) and Redis (`redis-server`), both shared too.

use sqlx::{Connection as _, PgConnection};
use std::collections::BTreeMap;
use std::time::Duration;

/// Linux reports `/proc` times in USER_HZ ticks, 100 per second on every mainstream
/// architecture.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time per component.
pub(crate) type CpuByComponent = BTreeMap<&'static str, Duration>;

/// User + system CPU time of `pid` (`None` if it is gone).
fn pid_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Processes whose command line starts with `prefix`.
fn pids_with_cmdline(prefix: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).starts_with(prefix))
                .unwrap_or(false)
        })
        .collect()
}

fn processes_named(comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == comm)
                .unwrap_or(false)
        })
        .collect()
}

fn sum(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|&p| pid_cpu(p)).sum()
}

/// A snapshot of the components' CPU times. The run's PostgreSQL backends are found
/// through `pg_stat_activity` (the pool keeps its connections through the load phase).
///
/// # Errors
/// The maintenance database is unreachable.
pub(crate) async fn snapshot(
    maintenance_url: &str,
    db_name: &str,
) -> anyhow::Result<CpuByComponent> {
    let mut conn = PgConnection::connect(maintenance_url).await?;
    let backends: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
            .bind(db_name)
            .fetch_all(&mut conn)
            .await?;
    conn.close().await?;
    let backends: Vec<u32> = backends
        .into_iter()
        .filter_map(|p| u32::try_from(p).ok())
        .collect();
    let helpers: Vec<u32> = pids_with_cmdline("postgres: ")
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c);
                    ["walwriter", "checkpointer", "background writer"]
                        .iter()
                        .any(|n| c.contains(n))
                })
                .unwrap_or(false)
        })
        .collect();
    let mut out = CpuByComponent::new();
    out.insert(
        "bench process",
        pid_cpu(std::process::id()).unwrap_or_default(),
    );
    out.insert("pg backends", sum(&backends));
    out.insert("pg wal+ckpt", sum(&helpers));
    out.insert("rabbitmq", sum(&processes_named("beam.smp")));
    out.insert("redis", sum(&processes_named("redis-server")));
    Ok(out)
}

/// `after - before` per component (backends that disconnected are missing from
/// `after`, so a component never goes negative).
pub(crate) fn delta(before: &CpuByComponent, after: &CpuByComponent) -> CpuByComponent {
    after
        .iter()
        .map(|(k, a)| {
            (
                *k,
                a.saturating_sub(before.get(k).copied().unwrap_or_default()),
            )
        })
        .collect()
}

//! The faults, injected while the spike runs: `kill -9` of the shard's active worker
//! (then started again), a full restart of the RabbitMQ node, PostgreSQL stopped
//! (immediate shutdown) for 10 s, and `kill -9` of a gateway while its fans wait for
//! replies (their retries and `202` follow-ups go to the other one). RabbitMQ and PostgreSQL are the private instances of
//! `deploy/faults/services.sh`, driven through that script.

use crate::log::Log;
use crate::stack::Stack;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

/// When each fault starts, in seconds after the spike starts.
pub(crate) struct Plan {
    pub(crate) kills_at: Vec<u64>,
    pub(crate) rabbitmq_restart_at: u64,
    pub(crate) postgres_outage_at: u64,
    pub(crate) postgres_outage: Duration,
    /// A gateway is killed this long after PostgreSQL went down (requests are waiting).
    pub(crate) gateway_kill_at: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            kills_at: vec![8, 18, 66],
            rabbitmq_restart_at: 28,
            postgres_outage_at: 48,
            postgres_outage: Duration::from_secs(10),
            gateway_kill_at: 52,
        }
    }
}

/// `deploy/faults/services.sh`.
pub(crate) struct Ctl(pub(crate) PathBuf);

impl Ctl {
    async fn run(&self, what: &str) {
        let status = tokio::process::Command::new(&self.0)
            .arg(what)
            .status()
            .await
            .unwrap_or_else(|e| panic!("{} {what}: {e}", self.0.display()));
        assert!(status.success(), "{} {what} failed", self.0.display());
    }
}

/// What was injected.
#[derive(Debug, Default)]
pub(crate) struct Injected {
    pub(crate) kills: usize,
    pub(crate) rabbitmq_restarts: usize,
    pub(crate) postgres_down_ms: u64,
    pub(crate) gateway_kills: usize,
    /// Longest time from a fault until the shard had an active worker again, in ms.
    pub(crate) longest_recovery_ms: u64,
}

/// Waits (60 s at most) until exactly one worker is active for `shard`.
async fn active(stack: &Stack, shard: u16) -> Option<usize> {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Some(i) = stack.active_worker(shard).await {
            return Some(i);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Runs `plan` against `stack` for the event on `shard`; `start` is the spike's start.
pub(crate) async fn inject(
    stack: &mut Stack,
    ctl: &Ctl,
    log: &Log,
    shard: u16,
    plan: &Plan,
    start: Instant,
) -> Injected {
    enum Step {
        Kill,
        Rabbit,
        PostgresDown,
        PostgresUp,
        Gateway,
    }
    let secs = Duration::from_secs;
    let pg_down = secs(plan.postgres_outage_at);
    let mut steps: Vec<(Duration, Step)> = plan
        .kills_at
        .iter()
        .map(|&t| (secs(t), Step::Kill))
        .collect();
    steps.push((secs(plan.rabbitmq_restart_at), Step::Rabbit));
    steps.push((pg_down, Step::PostgresDown));
    steps.push((pg_down + plan.postgres_outage, Step::PostgresUp));
    steps.push((secs(plan.gateway_kill_at), Step::Gateway));
    steps.sort_by_key(|(t, _)| *t);
    let mut done = Injected::default();
    let mut postgres_down_since = None;
    for (at, step) in steps {
        sleep_until(start + at).await;
        let fault_at = Instant::now();
        match step {
            Step::Kill => {
                let Some(i) = active(stack, shard).await else {
                    log.fault(format!("no active worker for shard {shard}: kill skipped"));
                    continue;
                };
                let name = stack.workers[i].name.clone();
                let pid = stack.kill_worker(i).await;
                done.kills += 1;
                log.fault(format!(
                    "kill -9 #{}: {name} (pid {pid:?}), the active consumer of shard {shard}",
                    done.kills
                ));
                let next = active(stack, shard).await;
                log.fault(format!(
                    "shard {shard} taken over by {:?}",
                    next.map(|j| stack.workers[j].name.clone())
                ));
                done.longest_recovery_ms = done
                    .longest_recovery_ms
                    .max(fault_at.elapsed().as_millis() as u64);
                stack.start_worker(i).await;
                log.fault(format!("{name} started again (standby)"));
            }
            Step::Rabbit => {
                log.fault("RabbitMQ node: stop");
                ctl.run("rabbitmq-stop").await;
                log.fault("RabbitMQ node: stopped; starting");
                ctl.run("rabbitmq-start").await;
                done.rabbitmq_restarts += 1;
                log.fault("RabbitMQ node: up again");
                let next = active(stack, shard).await;
                log.fault(format!(
                    "shard {shard} active again on {:?}",
                    next.map(|j| stack.workers[j].name.clone())
                ));
                done.longest_recovery_ms = done
                    .longest_recovery_ms
                    .max(fault_at.elapsed().as_millis() as u64);
            }
            Step::PostgresDown => {
                log.fault("PostgreSQL: stop (immediate)");
                ctl.run("pg-stop").await;
                postgres_down_since = Some(fault_at);
            }
            Step::PostgresUp => {
                ctl.run("pg-start").await;
                let since = postgres_down_since.take().unwrap_or(fault_at);
                done.postgres_down_ms = since.elapsed().as_millis() as u64;
                log.fault(format!(
                    "PostgreSQL: up again after {:.1} s",
                    done.postgres_down_ms as f64 / 1000.0
                ));
            }
            Step::Gateway => {
                let pid = stack.kill_gateway(0).await;
                done.gateway_kills += 1;
                log.fault(format!(
                    "kill -9 gateway-0 (pid {pid:?}) with requests waiting"
                ));
                tokio::time::sleep(Duration::from_secs(1)).await;
                stack.start_gateway(0).await;
                log.fault("gateway-0 started again");
            }
        }
    }
    done
}

//! The faults, injected one after the other while the spike runs: `kill -9` of the
//! shard's active worker (then started again), a full restart of the RabbitMQ node, and
//! PostgreSQL stopped (immediate shutdown) for 10 s with a gateway `kill -9`ed in the
//! middle of it, while its fans wait for replies (their retries and `202` follow-ups go
//! to the other gateway). RabbitMQ and PostgreSQL are the private instances of
//! `deploy/faults/services.sh`, driven through that script.
//!
//! Each fault starts at its planned time, or [`GAP`] after the previous one ended if
//! that is later (a RabbitMQ restart takes 10 s on a quiet machine, a minute on a busy
//! one), so every fault happens in full, under load, whatever the machine's speed.

use crate::log::Log;
use crate::stack::Stack;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

/// Least time between the end of a fault and the start of the next.
const GAP: Duration = Duration::from_secs(4);

/// One fault.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// `kill -9` the shard's active worker, start it again once a standby took over.
    KillActiveWorker,
    /// Stop the RabbitMQ node completely, then start it.
    RestartRabbitmq,
    /// Stop PostgreSQL for this long; `kill -9` gateway 0 four seconds in.
    PostgresOutage(Duration),
}

/// The faults in order, each with its planned start in seconds after the spike's start.
pub(crate) fn plan() -> Vec<(u64, Fault)> {
    vec![
        (8, Fault::KillActiveWorker),
        (18, Fault::KillActiveWorker),
        (28, Fault::RestartRabbitmq),
        (48, Fault::PostgresOutage(Duration::from_secs(10))),
        (64, Fault::KillActiveWorker),
    ]
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
    plan: &[(u64, Fault)],
    start: Instant,
) -> Injected {
    let mut done = Injected::default();
    let mut ready_at = start;
    for &(at, fault) in plan {
        sleep_until(ready_at.max(start + Duration::from_secs(at))).await;
        let began = Instant::now();
        match fault {
            Fault::KillActiveWorker => kill_active_worker(stack, log, shard, &mut done).await,
            Fault::RestartRabbitmq => {
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
                let took = began.elapsed().as_millis() as u64;
                done.longest_recovery_ms = done.longest_recovery_ms.max(took);
            }
            Fault::PostgresOutage(outage) => {
                log.fault("PostgreSQL: stop (immediate)");
                ctl.run("pg-stop").await;
                tokio::time::sleep(Duration::from_secs(4)).await;
                let pid = stack.kill_gateway(0).await;
                done.gateway_kills += 1;
                log.fault(format!(
                    "kill -9 gateway-0 (pid {pid:?}) with requests waiting"
                ));
                tokio::time::sleep(Duration::from_secs(1)).await;
                stack.start_gateway(0).await;
                log.fault("gateway-0 started again");
                sleep_until(began + outage).await;
                ctl.run("pg-start").await;
                done.postgres_down_ms = began.elapsed().as_millis() as u64;
                log.fault(format!(
                    "PostgreSQL: up again after {:.1} s",
                    done.postgres_down_ms as f64 / 1000.0
                ));
            }
        }
        ready_at = Instant::now() + GAP;
    }
    done
}

async fn kill_active_worker(stack: &mut Stack, log: &Log, shard: u16, done: &mut Injected) {
    let began = Instant::now();
    let Some(i) = active(stack, shard).await else {
        log.fault(format!("no active worker for shard {shard}: kill skipped"));
        return;
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
    let took = began.elapsed().as_millis() as u64;
    done.longest_recovery_ms = done.longest_recovery_ms.max(took);
    stack.start_worker(i).await;
    log.fault(format!("{name} started again (standby)"));
}

//! The faults, injected one after the other while the spike runs: the poison window
//! (see `poison`), `kill -9` of the shard's active worker (then started again), a full
//! restart of the RabbitMQ node, PostgreSQL stopped (immediate shutdown) for 10 s with a
//! gateway `kill -9`ed in the middle of it, while its fans wait for replies (their
//! retries and `202` follow-ups go to the other gateway), Redis shut down and started
//! again (its append-only file keeps the queue), and Redis hanging for 10 s (`SIGSTOP`:
//! connections are still accepted, nothing answers). PostgreSQL, RabbitMQ and Redis are
//! the private instances of `deploy/faults/services.sh`, driven through that script.
//! Each fault's window goes to the log, for the checks and `timeline.jsonl`.
//!
//! Each fault starts at its planned time, or [`GAP`] after the previous one ended if
//! that is later (a RabbitMQ restart takes 10 s on a quiet machine, a minute on a busy
//! one), so every fault happens in full, under load, whatever the machine's speed.

use crate::log::Log;
use crate::poison;
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
    /// Send poison towards the shard every second for this many seconds.
    Poison(u64),
    /// Shut Redis down, start it again this long after.
    RestartRedis(Duration),
    /// Redis hangs (`SIGSTOP`) for this long, then goes on (`SIGCONT`).
    HangRedis(Duration),
    /// Redis Cluster: `kill -9` the primary that owns the event's slot; its replica is
    /// promoted. The killed node is started again this long after (it rejoins as a
    /// replica).
    KillRedisPrimary(Duration),
    /// RabbitMQ cluster: stop the node that leads the shard's quorum queue for this long,
    /// then start it again.
    StopRabbitmqNode(Duration),
}

/// The name of a fault's kind (`FAULTS_ONLY`, the windows of the log).
pub(crate) fn kind(fault: Fault) -> &'static str {
    match fault {
        Fault::KillActiveWorker => "kill",
        Fault::RestartRabbitmq => "rabbitmq",
        Fault::PostgresOutage(_) => "postgres",
        Fault::Poison(_) => "poison",
        Fault::RestartRedis(_) => "redis-restart",
        Fault::HangRedis(_) => "redis-hang",
        Fault::KillRedisPrimary(_) => "redis-failover",
        Fault::StopRabbitmqNode(_) => "rabbitmq-node",
    }
}

/// The faults in order, each with its planned start in seconds after the spike's start;
/// `poison_secs` 0 leaves the poison window out.
pub(crate) fn plan(poison_secs: u64) -> Vec<(u64, Fault)> {
    let mut plan = Vec::new();
    if poison_secs > 0 {
        plan.push((2, Fault::Poison(poison_secs)));
    }
    plan.extend([
        (18, Fault::KillActiveWorker),
        (26, Fault::KillActiveWorker),
        (34, Fault::RestartRabbitmq),
        (50, Fault::PostgresOutage(Duration::from_secs(10))),
        (64, Fault::RestartRedis(Duration::from_secs(5))),
        (74, Fault::HangRedis(Duration::from_secs(10))),
        (88, Fault::KillActiveWorker),
    ]);
    plan
}

/// The faults of the cluster run (`FAULTS_TOPOLOGY=cluster`): while the spike runs, the
/// Redis primary of the event's slot is killed (its replica takes over), the RabbitMQ
/// node leading the shard's queue is stopped for 10 s, and the shard's active worker is
/// killed once (so a worker also changes over while the broker runs on two nodes).
pub(crate) fn cluster_plan() -> Vec<(u64, Fault)> {
    vec![
        (15, Fault::KillRedisPrimary(Duration::from_secs(10))),
        (35, Fault::StopRabbitmqNode(Duration::from_secs(10))),
        (55, Fault::KillActiveWorker),
    ]
}

/// `deploy/faults/services.sh`.
pub(crate) struct Ctl(pub(crate) PathBuf);

impl Ctl {
    /// Runs the script with `what` split on spaces (a verb and its arguments); returns
    /// its standard output, trimmed.
    async fn output(&self, what: &str) -> String {
        let out = tokio::process::Command::new(&self.0)
            .args(what.split(' '))
            .stderr(std::process::Stdio::inherit())
            .output()
            .await
            .unwrap_or_else(|e| panic!("{} {what}: {e}", self.0.display()));
        assert!(out.status.success(), "{} {what} failed", self.0.display());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    async fn run(&self, what: &str) {
        self.output(what).await;
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
    pub(crate) redis_restarts: usize,
    /// How long Redis was down in its restart, ms.
    pub(crate) redis_down_ms: u64,
    /// How long Redis hung, ms.
    pub(crate) redis_hang_ms: u64,
    /// Redis Cluster primaries killed.
    pub(crate) redis_primary_kills: usize,
    /// From the kill of a primary until its slot answered writes again, ms (longest).
    pub(crate) redis_failover_ms: u64,
    /// RabbitMQ cluster nodes stopped (and started again).
    pub(crate) rabbitmq_node_stops: usize,
    /// The poison window's sends (`None`: no poison window).
    pub(crate) poison: Option<poison::Injected>,
    /// What went wrong meanwhile (a process not ready again in time), one line each.
    pub(crate) problems: Vec<String>,
}

impl Injected {
    /// One line: what was injected.
    pub(crate) fn summary(&self) -> String {
        format!(
            "kill -9 of the active worker: {}; RabbitMQ restarts: {}; PostgreSQL down {:.1} s; \
             gateway kill -9: {}; Redis restarts: {} (down {:.1} s); Redis hung {:.1} s; \
             poison messages straight to the shard queue: {}; Redis primaries killed: {} \
             (slot writable again after {:.1} s); RabbitMQ cluster nodes stopped: {}",
            self.kills,
            self.rabbitmq_restarts,
            self.postgres_down_ms as f64 / 1000.0,
            self.gateway_kills,
            self.redis_restarts,
            self.redis_down_ms as f64 / 1000.0,
            self.redis_hang_ms as f64 / 1000.0,
            self.poison.as_ref().map_or(0, |p| p.sent.len()),
            self.redis_primary_kills,
            self.redis_failover_ms as f64 / 1000.0,
            self.rabbitmq_node_stops,
        )
    }
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

/// Runs `plan` against `stack` for the busy event (on `poison.shard`, its Redis slot
/// `slot_key`'s); `start` is the spike's start.
pub(crate) async fn inject(
    stack: &mut Stack,
    ctl: &Ctl,
    log: &Log,
    plan: &[(u64, Fault)],
    start: Instant,
    poison: &poison::Target<'_>,
    slot_key: &str,
) -> Injected {
    let shard = poison.shard;
    let mut done = Injected::default();
    let mut ready_at = start;
    let run = format!("{:08x}", rand::random::<u32>());
    for &(at, fault) in plan {
        sleep_until(ready_at.max(start + Duration::from_secs(at))).await;
        let began = Instant::now();
        let from_ms = log.ms();
        let kind = kind(fault);
        match fault {
            Fault::KillActiveWorker => kill_active_worker(stack, log, shard, &mut done).await,
            Fault::Poison(secs) => {
                log.fault(format!(
                    "poison: every second for {secs} s, NUL confirm and event name through \
                     the gateways, the same and undecodable messages straight to {}",
                    poison.queue
                ));
                let sent = poison::inject(poison, secs, &run).await;
                log.fault(format!(
                    "poison over: {} gateway requests, {} AMQP messages, {} poison buyers \
                     without a hold",
                    sent.requests,
                    sent.sent.len(),
                    sent.buyers_without_hold
                ));
                done.poison = Some(sent);
            }
            Fault::RestartRedis(down) => {
                log.fault("Redis: shut down");
                ctl.run("redis-stop").await;
                log.fault("Redis: down");
                sleep_until(began + down).await;
                ctl.run("redis-start").await;
                done.redis_restarts += 1;
                done.redis_down_ms = began.elapsed().as_millis() as u64;
                log.fault(format!(
                    "Redis: up again after {:.1} s",
                    done.redis_down_ms as f64 / 1000.0
                ));
            }
            Fault::HangRedis(hang) => {
                log.fault("Redis: SIGSTOP (connections accepted, nothing answers)");
                ctl.run("redis-pause").await;
                sleep_until(began + hang).await;
                ctl.run("redis-resume").await;
                done.redis_hang_ms = began.elapsed().as_millis() as u64;
                log.fault(format!(
                    "Redis: SIGCONT after {:.1} s",
                    done.redis_hang_ms as f64 / 1000.0
                ));
            }
            Fault::KillRedisPrimary(back_after) => {
                let port = ctl.output(&format!("redis-kill-primary {slot_key}")).await;
                done.redis_primary_kills += 1;
                log.fault(format!(
                    "Redis Cluster: kill -9 the primary of {slot_key}'s slot (port {port})"
                ));
                let writable = ctl.output(&format!("redis-wait-writable {slot_key}")).await;
                let took = began.elapsed().as_millis() as u64;
                done.redis_failover_ms = done.redis_failover_ms.max(took);
                log.fault(format!(
                    "Redis Cluster: the slot is writable again on {writable} after {:.1} s",
                    took as f64 / 1000.0
                ));
                sleep_until(began + back_after).await;
                ctl.run(&format!("redis-restart-node {port}")).await;
                log.fault(format!(
                    "Redis Cluster: node {port} started again (a replica now)"
                ));
            }
            Fault::StopRabbitmqNode(down) => {
                let queue = poison.queue.clone();
                let node = ctl.output(&format!("rabbitmq-leader {queue}")).await;
                log.fault(format!(
                    "RabbitMQ cluster: stop node {node} (leads {queue})"
                ));
                ctl.run(&format!("rabbitmq-node-stop {node}")).await;
                done.rabbitmq_node_stops += 1;
                log.fault(format!("RabbitMQ cluster: node {node} stopped"));
                let next = active(stack, shard).await;
                let took = began.elapsed().as_millis() as u64;
                done.longest_recovery_ms = done.longest_recovery_ms.max(took);
                log.fault(format!(
                    "shard {shard} active on {:?} with node {node} down, {:.1} s after the stop",
                    next.map(|j| stack.workers[j].name.clone()),
                    took as f64 / 1000.0
                ));
                sleep_until(began + down).await;
                ctl.run(&format!("rabbitmq-node-start {node}")).await;
                log.fault(format!("RabbitMQ cluster: node {node} started again"));
            }
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
                match stack.start_gateway(0).await {
                    Ok(()) => log.fault("gateway-0 started again"),
                    Err(e) => {
                        log.fault(e.clone());
                        done.problems.push(e);
                    }
                }
                sleep_until(began + outage).await;
                ctl.run("pg-start").await;
                done.postgres_down_ms = began.elapsed().as_millis() as u64;
                log.fault(format!(
                    "PostgreSQL: up again after {:.1} s",
                    done.postgres_down_ms as f64 / 1000.0
                ));
            }
        }
        let to_ms = match &done.poison {
            Some(sent) if kind == "poison" => sent.last_round_ms + 1_000,
            _ => log.ms(),
        };
        log.window(kind, from_ms, to_ms);
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
    match stack.start_worker(i).await {
        Ok(()) => log.fault(format!("{name} started again (standby)")),
        Err(e) => {
            log.fault(e.clone());
            done.problems.push(e);
        }
    }
}

//! Prometheus metrics of the worker, in the application's own `Registry` (never the
//! global one, so several workers can run in one test process).

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The worker's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `anteroom_worker_commands_total{kind,outcome}`: decided commands (replays too);
    /// `outcome` is `Outcome::label()` (`created`, `ok`, `seats_unavailable`, ...).
    pub commands: IntCounterVec,
    /// `anteroom_worker_batch_size`: commands per group commit.
    pub batch_size: Histogram,
    /// `anteroom_worker_commit_seconds`: duration of each batch transaction, in seconds.
    pub commit_seconds: Histogram,
    /// `anteroom_worker_redeliveries_total`: deliveries flagged redelivered by the broker.
    pub redeliveries: IntCounter,
    /// `anteroom_worker_commands_late_total`: commands read after the watermark had
    /// passed their accepted time (queued later than `accept_skew_ms` after it).
    pub commands_late: IntCounter,
    /// `anteroom_worker_fencing_epoch{shard}`: the epoch this worker holds for a shard.
    pub fencing_epoch: IntGaugeVec,
    /// `anteroom_worker_holds_active`: active holds over this worker's shards.
    pub holds_active: IntGauge,
    /// `anteroom_worker_seats_sold_total`: seats sold by committed orders.
    pub seats_sold: IntCounter,
    /// `anteroom_worker_shard_active{shard}`: 1 while this worker owns the shard.
    pub shard_active: IntGaugeVec,
    /// `anteroom_worker_commit_failures_total`: batch transactions that failed
    /// transiently (PostgreSQL down or slow, a lost race) and were retried with backoff.
    /// Batches PostgreSQL refuses are split instead: see `poison_commands`.
    pub commit_failures: IntCounter,
    /// `anteroom_worker_linked_commits_total`: batch transactions started while the one
    /// before them still committed (linked after it; `shard/pipeline.rs`).
    pub linked_commits: IntCounter,
    /// `anteroom_worker_redis_write_failures_total`: Redis writes that failed (retried).
    pub redis_failures: IntCounter,
    /// `anteroom_redis_data_loss_total{shard}`: times this worker found Redis had lost
    /// what it mirrors for a shard it owns (its marker key gone) and rewrote it all.
    pub redis_data_loss: IntCounterVec,
    /// `anteroom_worker_takeovers_total{shard}`: fencing-epoch changes made by this
    /// worker (each takeover bumps the shard's epoch in PostgreSQL).
    pub takeovers: IntCounterVec,
    /// `anteroom_worker_fenced_total{shard}`: sessions of this worker stopped because
    /// another worker's takeover moved the epoch on (its batch was refused).
    pub fenced: IntCounterVec,
    /// `anteroom_worker_shard_state{shard,state}`: 1 for the consumer state the shard is
    /// in on this worker, 0 for the others; states are [`SHARD_STATES`].
    pub shard_state: IntGaugeVec,
    /// `anteroom_seats_oversold{shard}`: seats given to more than one buyer in the
    /// shard's events, counted from PostgreSQL by the audit (`audit.rs`) every
    /// `audit_interval_secs` while this worker owns the shard. Must stay 0.
    pub seats_oversold: IntGaugeVec,
    /// `anteroom_worker_audit_failures_total`: audit queries that failed (PostgreSQL
    /// down); the gauge keeps its last value meanwhile.
    pub audit_failures: IntCounter,
    /// `anteroom_worker_poison_commands_total{outcome}`: commands isolated because
    /// PostgreSQL refused them (see `shard/isolate.rs`); `outcome` is one of
    /// [`POISON_OUTCOMES`].
    pub poison_commands: IntCounterVec,
    /// `anteroom_worker_dead_letters_total{reason}`: messages moved to the namespace's
    /// dead-letter queue; `reason` is one of [`crate::dead_letters::REASONS`].
    pub dead_letters: IntCounterVec,
    /// `anteroom_worker_expiries_unwritten_total`: expiry-only writes PostgreSQL refused;
    /// the holds ended in memory only and stay claimed in PostgreSQL.
    pub expiries_unwritten: IntCounter,
}

/// Outcomes of an isolated poison command, the `outcome` label of
/// `anteroom_worker_poison_commands_total`: `invalid_field` (stored `422`: PostgreSQL
/// refused a value of the command's input), `internal` (stored `500`: any other refusal,
/// e.g. a constraint the engine did not foresee), `dead_lettered` (not even its error
/// outcome could be stored: moved to the dead-letter queue, no reply).
pub const POISON_OUTCOMES: [&str; 3] = ["invalid_field", "internal", "dead_lettered"];

/// Consumer states of a shard, the `state` label of `anteroom_worker_shard_state`:
/// `connecting` (no channel yet, or backing off after a failure), `standby` (consuming,
/// another worker is the single active consumer), `taking_over` (first delivery came:
/// bumping the epoch and rebuilding from PostgreSQL), `active` (deciding and committing).
pub const SHARD_STATES: [&str; 4] = ["connecting", "standby", "taking_over", "active"];

impl Metrics {
    /// Creates and registers every metric.
    ///
    /// # Errors
    /// A Prometheus registration error (a duplicate name: a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let commands = IntCounterVec::new(
            Opts::new("anteroom_worker_commands_total", "Decided commands."),
            &["kind", "outcome"],
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("anteroom_worker_batch_size", "Commands per group commit.")
                .buckets(exponential_buckets(1.0, 2.0, 12)?),
        )?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "anteroom_worker_commit_seconds",
                "Duration of each batch transaction, in seconds.",
            )
            .buckets(exponential_buckets(0.0005, 2.0, 14)?),
        )?;
        let redeliveries = IntCounter::new(
            "anteroom_worker_redeliveries_total",
            "Deliveries flagged redelivered by the broker.",
        )?;
        let commands_late = IntCounter::new(
            "anteroom_worker_commands_late_total",
            "Commands read after the watermark had passed their accepted time.",
        )?;
        let fencing_epoch = IntGaugeVec::new(
            Opts::new(
                "anteroom_worker_fencing_epoch",
                "Fencing epoch held per shard.",
            ),
            &["shard"],
        )?;
        let holds_active = IntGauge::new("anteroom_worker_holds_active", "Active holds.")?;
        let seats_sold =
            IntCounter::new("anteroom_worker_seats_sold_total", "Seats sold by orders.")?;
        let shard_active = IntGaugeVec::new(
            Opts::new(
                "anteroom_worker_shard_active",
                "1 while this worker owns the shard.",
            ),
            &["shard"],
        )?;
        let commit_failures = IntCounter::new(
            "anteroom_worker_commit_failures_total",
            "Batch transactions that failed transiently and were retried.",
        )?;
        let linked_commits = IntCounter::new(
            "anteroom_worker_linked_commits_total",
            "Batch transactions started while the one before them still committed.",
        )?;
        let redis_failures = IntCounter::new(
            "anteroom_worker_redis_write_failures_total",
            "Redis writes that failed and were queued for retry.",
        )?;
        let takeovers = IntCounterVec::new(
            Opts::new(
                "anteroom_worker_takeovers_total",
                "Shard takeovers by this worker (each bumps the fencing epoch).",
            ),
            &["shard"],
        )?;
        let fenced = IntCounterVec::new(
            Opts::new(
                "anteroom_worker_fenced_total",
                "Sessions stopped because another worker took the shard over.",
            ),
            &["shard"],
        )?;
        let shard_state = IntGaugeVec::new(
            Opts::new(
                "anteroom_worker_shard_state",
                "1 for the shard consumer's current state on this worker.",
            ),
            &["shard", "state"],
        )?;
        let seats_oversold = IntGaugeVec::new(
            Opts::new(
                "anteroom_seats_oversold",
                "Seats given to more than one buyer, counted in PostgreSQL (must be 0).",
            ),
            &["shard"],
        )?;
        let audit_failures = IntCounter::new(
            "anteroom_worker_audit_failures_total",
            "Oversold audits that failed (PostgreSQL unreachable).",
        )?;
        let poison_commands = IntCounterVec::new(
            Opts::new(
                "anteroom_worker_poison_commands_total",
                "Commands isolated because PostgreSQL refused them, by outcome.",
            ),
            &["outcome"],
        )?;
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "anteroom_worker_dead_letters_total",
                "Messages moved to the dead-letter queue, by reason.",
            ),
            &["reason"],
        )?;
        let expiries_unwritten = IntCounter::new(
            "anteroom_worker_expiries_unwritten_total",
            "Hold expiries PostgreSQL refused to store (applied in memory only).",
        )?;
        // Every label value exists from the start, so alerts see 0, not an absent series.
        for outcome in POISON_OUTCOMES {
            poison_commands.with_label_values(&[outcome]);
        }
        for reason in crate::dead_letters::REASONS {
            dead_letters.with_label_values(&[reason]);
        }
        registry.register(Box::new(poison_commands.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(expiries_unwritten.clone()))?;
        let redis_data_loss = IntCounterVec::new(
            Opts::new(
                "anteroom_redis_data_loss_total",
                "Losses of Redis's data detected for an owned shard (mirror rewritten).",
            ),
            &["shard"],
        )?;
        registry.register(Box::new(redis_data_loss.clone()))?;
        registry.register(Box::new(takeovers.clone()))?;
        registry.register(Box::new(fenced.clone()))?;
        registry.register(Box::new(shard_state.clone()))?;
        registry.register(Box::new(seats_oversold.clone()))?;
        registry.register(Box::new(audit_failures.clone()))?;
        registry.register(Box::new(commands.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        registry.register(Box::new(redeliveries.clone()))?;
        registry.register(Box::new(commands_late.clone()))?;
        registry.register(Box::new(fencing_epoch.clone()))?;
        registry.register(Box::new(holds_active.clone()))?;
        registry.register(Box::new(seats_sold.clone()))?;
        registry.register(Box::new(shard_active.clone()))?;
        registry.register(Box::new(commit_failures.clone()))?;
        registry.register(Box::new(linked_commits.clone()))?;
        registry.register(Box::new(redis_failures.clone()))?;
        Ok(Self {
            registry,
            commands,
            batch_size,
            commit_seconds,
            redeliveries,
            commands_late,
            fencing_epoch,
            holds_active,
            seats_sold,
            shard_active,
            commit_failures,
            linked_commits,
            redis_failures,
            redis_data_loss,
            takeovers,
            fenced,
            shard_state,
            seats_oversold,
            audit_failures,
            poison_commands,
            dead_letters,
            expiries_unwritten,
        })
    }

    /// Records that `shard` is now in consumer state `state` (one of [`SHARD_STATES`]).
    pub fn set_shard_state(&self, shard: u16, state: &str) {
        let label = shard.to_string();
        for s in SHARD_STATES {
            self.shard_state
                .with_label_values(&[&label, s])
                .set(i64::from(s == state));
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_contract_names() {
        let m = Metrics::new().unwrap();
        m.commands.with_label_values(&["hold", "created"]).inc();
        m.fencing_epoch.with_label_values(&["0"]).set(3);
        m.shard_active.with_label_values(&["0"]).set(1);
        m.batch_size.observe(3.0);
        m.commit_seconds.observe(0.002);
        m.takeovers.with_label_values(&["0"]).inc();
        m.fenced.with_label_values(&["0"]).inc();
        m.seats_oversold.with_label_values(&["0"]).set(0);
        m.redis_data_loss.with_label_values(&["0"]).inc();
        m.set_shard_state(0, "standby");
        m.set_shard_state(0, "active");
        let text = m.render();
        for name in [
            "anteroom_worker_commands_total{kind=\"hold\",outcome=\"created\"} 1",
            "anteroom_worker_batch_size",
            "anteroom_worker_commit_seconds",
            "anteroom_worker_redeliveries_total",
            "anteroom_worker_commands_late_total 0",
            "anteroom_worker_fencing_epoch{shard=\"0\"} 3",
            "anteroom_worker_holds_active",
            "anteroom_worker_seats_sold_total",
            "anteroom_worker_shard_active{shard=\"0\"} 1",
            "anteroom_worker_takeovers_total{shard=\"0\"} 1",
            "anteroom_worker_fenced_total{shard=\"0\"} 1",
            "anteroom_worker_shard_state{shard=\"0\",state=\"active\"} 1",
            "anteroom_worker_shard_state{shard=\"0\",state=\"standby\"} 0",
            "anteroom_seats_oversold{shard=\"0\"} 0",
            "anteroom_worker_audit_failures_total 0",
            "anteroom_worker_poison_commands_total{outcome=\"internal\"} 0",
            "anteroom_worker_dead_letters_total{reason=\"malformed\"} 0",
            "anteroom_worker_expiries_unwritten_total 0",
            "anteroom_redis_data_loss_total{shard=\"0\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}

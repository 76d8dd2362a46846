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
    /// `anteroom_worker_fencing_epoch{shard}`: the epoch this worker holds for a shard.
    pub fencing_epoch: IntGaugeVec,
    /// `anteroom_worker_holds_active`: active holds over this worker's shards.
    pub holds_active: IntGauge,
    /// `anteroom_worker_seats_sold_total`: seats sold by committed orders.
    pub seats_sold: IntCounter,
    /// `anteroom_worker_shard_active{shard}`: 1 while this worker owns the shard.
    pub shard_active: IntGaugeVec,
    /// `anteroom_worker_commit_failures_total`: batch transactions that failed and were
    /// retried (PostgreSQL down, or a constraint caught an engine bug).
    pub commit_failures: IntCounter,
    /// `anteroom_worker_redis_write_failures_total`: Redis writes that failed (retried).
    pub redis_failures: IntCounter,
}

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
            "Batch transactions that failed and were retried.",
        )?;
        let redis_failures = IntCounter::new(
            "anteroom_worker_redis_write_failures_total",
            "Redis writes that failed and were queued for retry.",
        )?;
        registry.register(Box::new(commands.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        registry.register(Box::new(redeliveries.clone()))?;
        registry.register(Box::new(fencing_epoch.clone()))?;
        registry.register(Box::new(holds_active.clone()))?;
        registry.register(Box::new(seats_sold.clone()))?;
        registry.register(Box::new(shard_active.clone()))?;
        registry.register(Box::new(commit_failures.clone()))?;
        registry.register(Box::new(redis_failures.clone()))?;
        Ok(Self {
            registry,
            commands,
            batch_size,
            commit_seconds,
            redeliveries,
            fencing_epoch,
            holds_active,
            seats_sold,
            shard_active,
            commit_failures,
            redis_failures,
        })
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
        let text = m.render();
        for name in [
            "anteroom_worker_commands_total{kind=\"hold\",outcome=\"created\"} 1",
            "anteroom_worker_batch_size",
            "anteroom_worker_commit_seconds",
            "anteroom_worker_redeliveries_total",
            "anteroom_worker_fencing_epoch{shard=\"0\"} 3",
            "anteroom_worker_holds_active",
            "anteroom_worker_seats_sold_total",
            "anteroom_worker_shard_active{shard=\"0\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}

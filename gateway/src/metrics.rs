//! Prometheus metrics of the gateway, in a [`prometheus::Registry`] owned by the app state
//! (never a global), served as text at `GET /metrics`.
//!
//! HTTP metrics are labelled by route template (`MatchedPath`, e.g.
//! `/v1/events/{event_id}/queue`), never by raw path, so cardinality stays bounded.

use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// All gateway metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `anteroom_http_requests_total{route,method,status}`.
    pub http_requests: IntCounterVec,
    /// `anteroom_http_request_duration_seconds{route,method}`.
    pub http_duration: HistogramVec,
    /// `anteroom_queue_joins_total`: new tickets (not rejoins).
    pub queue_joins: IntCounter,
    /// `anteroom_admitted_total`: tickets admitted by this replica's admission loop.
    pub admitted: IntCounter,
    /// `anteroom_abandoned_total`: waiting tickets skipped as abandoned by this replica.
    pub abandoned: IntCounter,
    /// `anteroom_admission_clipped_total`: admissions the token bucket's cap dropped in
    /// this replica's steps (tokens; `admit.lua`): refill owed for a spell longer than
    /// the catch-up window (`admission::bucket::CATCH_UP_MS`) without an admission step.
    pub admission_clipped: Counter,
    /// `anteroom_publish_confirm_seconds`: publish until the broker's confirm.
    pub publish_confirm: Histogram,
    /// `anteroom_commands_published_total`: commands handed to the broker (confirmed or
    /// not).
    pub commands_published: IntCounter,
    /// `anteroom_command_messages_total`: AMQP messages that carried them; commands
    /// divided by messages is the mean batch.
    pub command_messages: IntCounter,
    /// `anteroom_reply_wait_seconds`: publish until the worker's reply.
    pub reply_wait: Histogram,
    /// `anteroom_replies_timed_out_total`: requests answered `202` (no reply in time).
    pub replies_timed_out: IntCounter,
    /// `anteroom_status_requests_total`: statuses computed (polls, and checks of open
    /// status streams).
    pub status_requests: IntCounter,
    /// `anteroom_status_redis_calls_total`: Redis calls those statuses made; divided by
    /// `anteroom_status_requests_total`, the Redis calls per status (aim: ≤ 0.1).
    pub status_redis_calls: IntCounter,
    /// `anteroom_sse_streams{stream}`: open SSE streams (`status`, `seats`).
    pub sse_streams: IntGaugeVec,
    /// `anteroom_redis_data_loss_total`: queues this replica found gone back (their
    /// arrival counter or admitted count lower than it had read: Redis lost its data)
    /// and wrote back from its memory (`queue/restore.rs`).
    pub redis_data_loss: IntCounter,
    /// `anteroom_queue_places_restored_total{state}`: tickets Redis had lost that their
    /// fans' queue tokens put back, by the state restored (`prequeue`, `waiting`,
    /// `admitted`, `abandoned`).
    pub places_restored: IntCounterVec,
    /// Per-event queue gauges, set by the admission loop from `admit.lua`'s answer (every
    /// replica reports the same values: aggregate with `max by (event_id)`).
    pub queue: QueueGauges,
}

/// Per-event gauges of the queue and its admission (labels: `event_id`).
#[derive(Clone)]
pub struct QueueGauges {
    /// `anteroom_queue_waiting{event_id}`: tickets waiting (the queue depth).
    pub waiting: IntGaugeVec,
    /// `anteroom_queue_active{event_id}`: admitted fans whose pass is live.
    pub active: IntGaugeVec,
    /// `anteroom_admission_max_active{event_id}`: the event's `max_active` cap.
    pub max_active: IntGaugeVec,
    /// `anteroom_admission_configured_per_minute{event_id}`: the configured outflow rate,
    /// per minute; 0 while the event is not open (paused, closed, sold out, scheduled).
    pub configured_per_minute: IntGaugeVec,
    /// `anteroom_admission_observed_per_minute{event_id}`: admissions over the last 60 s
    /// (the observed outflow), per minute.
    pub observed_per_minute: IntGaugeVec,
}

impl QueueGauges {
    fn new() -> Self {
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["event_id"]).expect("valid metric")
        };
        Self {
            waiting: gauge("anteroom_queue_waiting", "Tickets waiting in the queue"),
            active: gauge("anteroom_queue_active", "Admitted fans whose pass is live"),
            max_active: gauge(
                "anteroom_admission_max_active",
                "The event's max_active cap",
            ),
            configured_per_minute: gauge(
                "anteroom_admission_configured_per_minute",
                "Configured outflow rate per minute (0 while not open)",
            ),
            observed_per_minute: gauge(
                "anteroom_admission_observed_per_minute",
                "Admissions over the last 60 seconds",
            ),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.waiting.clone()),
            Box::new(self.active.clone()),
            Box::new(self.max_active.clone()),
            Box::new(self.configured_per_minute.clone()),
            Box::new(self.observed_per_minute.clone()),
        ]
    }
}

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// Registers every metric in a fresh registry.
    ///
    /// # Panics
    /// Never in practice: names are static and distinct.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("anteroom_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "anteroom_http_request_duration_seconds",
                "HTTP request latency in seconds",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let histogram = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
                .expect("valid metric")
        };
        let m = Self {
            http_requests,
            http_duration,
            queue_joins: counter("anteroom_queue_joins_total", "New tickets in a queue"),
            admitted: counter(
                "anteroom_admitted_total",
                "Tickets admitted (passes issued)",
            ),
            abandoned: counter(
                "anteroom_abandoned_total",
                "Waiting tickets skipped as abandoned",
            ),
            admission_clipped: Counter::new(
                "anteroom_admission_clipped_total",
                "Admissions (tokens) dropped at the admission bucket's cap",
            )
            .expect("valid metric"),
            publish_confirm: histogram(
                "anteroom_publish_confirm_seconds",
                "Time from publish to publisher confirm, seconds",
            ),
            commands_published: counter(
                "anteroom_commands_published_total",
                "Commands published to the worker shards",
            ),
            command_messages: counter(
                "anteroom_command_messages_total",
                "AMQP messages carrying commands (a batch is one)",
            ),
            reply_wait: histogram(
                "anteroom_reply_wait_seconds",
                "Time from publish to the worker's reply, seconds",
            ),
            replies_timed_out: counter(
                "anteroom_replies_timed_out_total",
                "Requests answered 202 because the reply did not come in time",
            ),
            status_requests: counter(
                "anteroom_status_requests_total",
                "Queue statuses computed (polls and status-stream checks)",
            ),
            status_redis_calls: counter(
                "anteroom_status_redis_calls_total",
                "Redis calls made to compute queue statuses",
            ),
            sse_streams: IntGaugeVec::new(
                Opts::new("anteroom_sse_streams", "Open SSE streams"),
                &["stream"],
            )
            .expect("valid metric"),
            redis_data_loss: counter(
                "anteroom_redis_data_loss_total",
                "Event queues found reset in Redis (data lost) and written back from memory",
            ),
            places_restored: IntCounterVec::new(
                Opts::new(
                    "anteroom_queue_places_restored_total",
                    "Tickets lost with Redis's data put back by their queue tokens",
                ),
                &["state"],
            )
            .expect("valid metric"),
            queue: QueueGauges::new(),
            registry,
        };
        let mut collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.http_requests.clone()),
            Box::new(m.http_duration.clone()),
            Box::new(m.queue_joins.clone()),
            Box::new(m.admitted.clone()),
            Box::new(m.abandoned.clone()),
            Box::new(m.admission_clipped.clone()),
            Box::new(m.publish_confirm.clone()),
            Box::new(m.commands_published.clone()),
            Box::new(m.command_messages.clone()),
            Box::new(m.reply_wait.clone()),
            Box::new(m.replies_timed_out.clone()),
            Box::new(m.status_requests.clone()),
            Box::new(m.status_redis_calls.clone()),
            Box::new(m.sse_streams.clone()),
            Box::new(m.redis_data_loss.clone()),
            Box::new(m.places_restored.clone()),
        ];
        collectors.extend(m.queue.collectors());
        for c in collectors {
            m.registry.register(c).expect("metric registered once");
        }
        m
    }

    /// Registers a collector owned by another module (e.g. `limits`) in this registry.
    ///
    /// # Errors
    /// If a metric of the same name is already registered.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> prometheus::Result<()> {
        self.registry.register(collector)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_by_name() {
        let m = Metrics::new();
        m.http_requests
            .with_label_values(&["/healthz", "GET", "200"])
            .inc();
        m.http_duration
            .with_label_values(&["/healthz", "GET"])
            .observe(0.001);
        m.queue_joins.inc();
        m.publish_confirm.observe(0.002);
        m.reply_wait.observe(0.003);
        let text = m.render();
        for name in [
            "anteroom_http_requests_total",
            "anteroom_http_request_duration_seconds",
            "anteroom_queue_joins_total",
            "anteroom_admitted_total",
            "anteroom_publish_confirm_seconds",
            "anteroom_reply_wait_seconds",
            "anteroom_replies_timed_out_total",
            "anteroom_status_requests_total",
            "anteroom_status_redis_calls_total",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
    }
}

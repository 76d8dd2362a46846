//! `--spans`: where a worker run's time goes, from the worker's own `tracing` spans
//! (`decide` = deciding a batch in memory, `commit` = its transaction, `finish` = handing
//! it to the finisher, `answer` = the finisher's Redis writes, replies and ack of it,
//! `write` = one Redis pipeline, `process` = a batch on the sequential path,
//! `stored_results` = the replay lookup). A layer adds up each span's wall
//! time (creation to close, awaits included) by name; [`SpanTotals::take`] returns and
//! resets the sums after each run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Count and total wall time per span name.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanTotals(Arc<Mutex<BTreeMap<&'static str, (u64, Duration)>>>);

impl SpanTotals {
    /// The sums so far (then zeroed).
    pub(crate) fn take(&self) -> BTreeMap<&'static str, (u64, Duration)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Prints `totals` as one line per span: count, mean and total.
    pub(crate) fn print(label: &str, totals: &BTreeMap<&'static str, (u64, Duration)>) {
        eprintln!("  spans of {label}:");
        for (name, (count, total)) in totals {
            let mean = total.as_secs_f64() * 1000.0 / (*count).max(1) as f64;
            eprintln!(
                "    {name:<16} {count:>7} x {mean:>8.2} ms = {:>8.0} ms",
                total.as_secs_f64() * 1000.0
            );
        }
    }
}

struct Opened(Instant);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanTotals {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(opened) = span.extensions().get::<Opened>().map(|o| o.0) else {
            return;
        };
        let mut totals = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = totals.entry(span.name()).or_default();
        entry.0 += 1;
        entry.1 += opened.elapsed();
    }
}

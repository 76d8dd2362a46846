//! The client's own log: one [`Record`] per logical request (join, hold, confirm,
//! release) with every HTTP attempt it took and its one final outcome, plus the fault
//! timeline. Written as JSON lines to `client.jsonl` and `timeline.jsonl`; the checks
//! read it back from memory.

use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::time::Instant;

/// One HTTP attempt of a logical request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    /// Start, in ms since the run started.
    pub(crate) at_ms: u64,
    /// Duration until the response (or the error), in ms.
    pub(crate) ms: u64,
    /// HTTP status; 0 for a transport error (connection refused, reset, client timeout).
    pub(crate) status: u16,
    /// The `Retry-After` header, if any.
    pub(crate) retry_after: Option<String>,
    /// `error.code` of an error body, or the transport error.
    pub(crate) error: Option<String>,
    /// The request id of a `202`.
    pub(crate) request_id: Option<String>,
}

/// The one final outcome of a logical request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Final {
    /// HTTP status the fan ended up with (the reply's, or the one stored for a `202`).
    pub(crate) status: u16,
    /// Its body.
    pub(crate) body: Value,
    /// `reply` (answered directly) or `request` (a `202` followed to
    /// `GET /v1/requests/{id}`).
    pub(crate) via: &'static str,
    /// The request id, when known (`202`s).
    pub(crate) request_id: Option<String>,
}

/// One logical request of one buyer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    pub(crate) buyer: usize,
    pub(crate) ticket: Option<String>,
    /// `join`, `hold`, `confirm` or `release`.
    pub(crate) kind: &'static str,
    /// The Idempotency-Key sent with every attempt (holds and confirms).
    pub(crate) key: Option<String>,
    /// The hold a confirm or release acts on.
    pub(crate) hold_id: Option<String>,
    /// The JSON body sent (the same bytes on every attempt).
    pub(crate) body: Value,
    pub(crate) attempts: Vec<Attempt>,
    /// `None` if the request never got an outcome before its deadline (a failure).
    pub(crate) outcome: Option<Final>,
}

/// A fault injected (or a step of one).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Fault {
    pub(crate) at_ms: u64,
    pub(crate) what: String,
}

/// Shared by every buyer task.
pub(crate) struct Log {
    started: Instant,
    records: Mutex<Vec<Record>>,
    faults: Mutex<Vec<Fault>>,
    /// Queue status polls (not logged one by one).
    pub(crate) status_polls: AtomicU64,
    /// `GET /v1/requests/{id}` polls.
    pub(crate) request_polls: AtomicU64,
}

impl Log {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            records: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            status_polls: AtomicU64::new(0),
            request_polls: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the run started.
    pub(crate) fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn push(&self, record: Record) {
        self.records.lock().unwrap().push(record);
    }

    pub(crate) fn fault(&self, what: impl Into<String>) {
        let what = what.into();
        let at_ms = self.ms();
        println!("faults: [{:>6.1} s] {what}", at_ms as f64 / 1000.0);
        self.faults.lock().unwrap().push(Fault { at_ms, what });
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    pub(crate) fn faults(&self) -> Vec<Fault> {
        self.faults.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Writes `client.jsonl` and `timeline.jsonl` into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("client.jsonl"))?);
        for r in self.records.lock().unwrap().iter() {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        let mut out = std::fs::File::create(dir.join("timeline.jsonl"))?;
        for f in self.faults.lock().unwrap().iter() {
            serde_json::to_writer(&mut out, f)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

//! The client's own log: one [`Record`] per logical request (join, hold, confirm,
//! release, and the poison commands) with every HTTP attempt it took and its one final
//! outcome, one [`Poll`] per queue status or `GET /v1/requests/{id}` poll, plus the fault
//! timeline. Written as JSON lines to `client.jsonl`, `polls.jsonl` and `timeline.jsonl`;
//! the checks read it back from memory.

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
    /// Start, wall clock (Unix ms): the fans and the gateways share this machine's clock.
    pub(crate) unix_ms: i64,
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
    /// When the outcome was known, in ms since the run started.
    pub(crate) done_ms: Option<u64>,
    /// Joins: when the ticket was admitted (ms since the run started), if it was.
    pub(crate) admitted_ms: Option<u64>,
    /// Joins: how waiting in the queue ended (`admitted`, another queue state, or
    /// `no answer`).
    pub(crate) queue_end: Option<String>,
}

impl Record {
    /// When the first attempt started, in ms since the run started.
    pub(crate) fn started_ms(&self) -> Option<u64> {
        self.attempts.first().map(|a| a.at_ms)
    }

    /// Time from the first attempt to the outcome, in ms.
    pub(crate) fn waited_ms(&self) -> Option<u64> {
        Some(self.done_ms?.saturating_sub(self.started_ms()?))
    }
}

/// One poll: `GET .../queue` (`status`) or `GET /v1/requests/{id}` (`request`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Poll {
    pub(crate) kind: &'static str,
    pub(crate) buyer: usize,
    pub(crate) at_ms: u64,
    pub(crate) ms: u64,
    /// HTTP status; 0 for a transport error.
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
}

/// A fault injected (or a step of one).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Fault {
    pub(crate) at_ms: u64,
    pub(crate) what: String,
}

/// A time window of a fault, in ms since the run started.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Window {
    /// `poison`, `kill`, `rabbitmq`, `postgres`, `redis-restart`, `redis-hang`.
    pub(crate) kind: &'static str,
    pub(crate) from_ms: u64,
    pub(crate) to_ms: u64,
}

impl Window {
    /// Whether `at_ms` falls in the window.
    pub(crate) fn contains(&self, at_ms: u64) -> bool {
        (self.from_ms..=self.to_ms).contains(&at_ms)
    }
}

/// Shared by every buyer task.
pub(crate) struct Log {
    started: Instant,
    records: Mutex<Vec<Record>>,
    poison: Mutex<Vec<Record>>,
    polls: Mutex<Vec<Poll>>,
    faults: Mutex<Vec<Fault>>,
    windows: Mutex<Vec<Window>>,
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
            poison: Mutex::new(Vec::new()),
            polls: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            windows: Mutex::new(Vec::new()),
            status_polls: AtomicU64::new(0),
            request_polls: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the run started.
    pub(crate) fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The wall clock now, in Unix ms.
    pub(crate) fn unix_ms() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    pub(crate) fn push(&self, mut record: Record) {
        record.done_ms.get_or_insert_with(|| self.ms());
        self.records.lock().unwrap().push(record);
    }

    /// Logs a poison command (kept apart from the buyers' requests).
    pub(crate) fn push_poison(&self, mut record: Record) {
        record.done_ms.get_or_insert_with(|| self.ms());
        self.poison.lock().unwrap().push(record);
    }

    pub(crate) fn poll(&self, poll: Poll) {
        self.polls.lock().unwrap().push(poll);
    }

    /// Records the window of a fault (for the checks and `timeline.jsonl`).
    pub(crate) fn window(&self, kind: &'static str, from_ms: u64, to_ms: u64) {
        self.windows.lock().unwrap().push(Window {
            kind,
            from_ms,
            to_ms,
        });
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

    pub(crate) fn poison(&self) -> Vec<Record> {
        self.poison.lock().unwrap().clone()
    }

    pub(crate) fn polls(&self) -> Vec<Poll> {
        self.polls.lock().unwrap().clone()
    }

    pub(crate) fn faults(&self) -> Vec<Fault> {
        self.faults.lock().unwrap().clone()
    }

    pub(crate) fn windows(&self) -> Vec<Window> {
        self.windows.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Writes `client.jsonl` (the buyers' requests, then the poison commands),
    /// `polls.jsonl` and `timeline.jsonl` (every step, then every fault's window) into
    /// `dir`.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<()> {
        fn lines<'a, T: Serialize + 'a>(
            path: &Path,
            items: impl IntoIterator<Item = &'a T>,
        ) -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            for item in items {
                serde_json::to_writer(&mut out, item)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        }
        let records = self.records.lock().unwrap();
        let poison = self.poison.lock().unwrap();
        lines(
            &dir.join("client.jsonl"),
            records.iter().chain(poison.iter()),
        )?;
        lines(&dir.join("polls.jsonl"), self.polls.lock().unwrap().iter())?;
        let faults: Vec<Value> = self
            .faults
            .lock()
            .unwrap()
            .iter()
            .map(|f| serde_json::json!(f))
            .chain(
                self.windows
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|w| serde_json::json!({ "window": w })),
            )
            .collect();
        lines(&dir.join("timeline.jsonl"), faults.iter())
    }
}

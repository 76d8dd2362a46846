//! A minimal Server-Sent Events reader over a streaming `reqwest::Response`.

use serde_json::Value;
use std::time::Duration;

/// An open SSE response, read frame by frame.
pub(crate) struct SseStream {
    resp: reqwest::Response,
    buffer: String,
}

/// One SSE frame: its `event:` name and its `data:` parsed as JSON.
#[derive(Debug)]
pub(crate) struct SseEvent {
    pub(crate) event: String,
    pub(crate) data: Value,
}

impl SseStream {
    /// Wraps `resp`, asserting `200` and `content-type: text/event-stream`.
    pub(crate) fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status().as_u16(), 200, "stream refused");
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            ctype.starts_with("text/event-stream"),
            "content-type {ctype}"
        );
        Self {
            resp,
            buffer: String::new(),
        }
    }

    /// The next frame carrying data (comments and keep-alives skipped).
    async fn next_frame(&mut self) -> SseEvent {
        loop {
            let normalized = self.buffer.replace("\r\n", "\n");
            if let Some(end) = normalized.find("\n\n") {
                self.buffer = normalized[end + 2..].to_owned();
                let (mut event, mut data) = (String::from("message"), String::new());
                for line in normalized[..end].lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if !data.is_empty() {
                    let data = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {data}"));
                    return SseEvent { event, data };
                }
                continue;
            }
            let chunk = self.resp.chunk().await.expect("stream broke");
            let chunk = chunk.expect("stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads frames until `pred` accepts one, for at most `deadline`.
    pub(crate) async fn wait_for(
        &mut self,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&SseEvent) -> bool,
    ) -> SseEvent {
        let found = async {
            loop {
                let e = self.next_frame().await;
                if pred(&e) {
                    return e;
                }
            }
        };
        tokio::time::timeout(deadline, found)
            .await
            .unwrap_or_else(|_| panic!("no SSE frame with {what} within {deadline:?}"))
    }
}

/// Whether `v` contains, at any depth, an object with `id == seat` and `status`.
pub(crate) fn mentions_seat(v: &Value, seat: &str, status: &str) -> bool {
    match v {
        Value::Object(o) => {
            (o.get("id").and_then(Value::as_str) == Some(seat)
                && o.get("status").and_then(Value::as_str) == Some(status))
                || o.values().any(|x| mentions_seat(x, seat, status))
        }
        Value::Array(a) => a.iter().any(|x| mentions_seat(x, seat, status)),
        _ => false,
    }
}

//! A minimal Server-Sent Events client over reqwest (enough for `event:` + `data:`).

use std::time::Duration;

/// One event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    /// `event:` field (`message` if absent).
    pub(crate) event: String,
    /// `data:` lines joined by `\n`.
    pub(crate) data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// An open stream.
pub(crate) struct SseClient {
    resp: reqwest::Response,
    buf: String,
}

impl SseClient {
    /// Opens `url` with `bearer`; panics unless `200 text/event-stream`.
    pub(crate) async fn connect(client: &reqwest::Client, url: &str, bearer: &str) -> SseClient {
        let resp = client
            .get(url)
            .bearer_auth(bearer)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .expect("Failed to open the stream");
        assert_eq!(resp.status().as_u16(), 200, "stream {url}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "content-type {ct}");
        SseClient {
            resp,
            buf: String::new(),
        }
    }

    /// The next event within `within`; `None` on timeout or end of stream.
    pub(crate) async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let mut event = "message".to_owned();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if !data.is_empty() {
                    return Some(SseEvent {
                        event,
                        data: data.join("\n"),
                    });
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(until, self.resp.chunk())
                .await
                .ok()?;
            match chunk {
                Ok(Some(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next event named `name` within `within`, skipping others.
    pub(crate) async fn next_named(&mut self, name: &str, within: Duration) -> Option<SseEvent> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next(left).await?;
            if e.event == name {
                return Some(e);
            }
        }
    }
}

//! The fans' HTTP client of the fault run: each logical request is retried as a fan
//! would (same `Idempotency-Key`, same bytes) until it has one final outcome.
//!
//! - `503` (with `Retry-After`), `429`, other `5xx` and transport errors: retried after
//!   `Retry-After` (at most 2 s) or 300 ms, on the next gateway;
//! - `202`: followed to `GET /v1/requests/{id}` until `done`;
//! - anything else is the outcome.
//!
//! A request still without an outcome at its deadline is logged with `outcome: None`
//! and fails the run.

use crate::log::{Attempt, Final, Log, Poll, Record};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a logical request may take, retries and `202` follow-ups included. Covers
/// a RabbitMQ restart or a 10 s PostgreSQL outage with room to spare.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(90);
/// Per-attempt client timeout: far above the gateway's own bound (reply timeout, 5 s
/// publisher-confirm wait), so a gateway that hangs shows up as a slow attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between `GET /v1/requests/{id}` or queue status polls (a browser's pace).
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The gateways and the event under test.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    bases: Arc<Vec<String>>,
    pub(crate) event: String,
    pub(crate) log: Arc<Log>,
}

/// One response, read whole.
struct Response {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

impl Api {
    pub(crate) fn new(bases: Vec<String>, event: String, log: Arc<Log>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Self {
            http,
            bases: Arc::new(bases),
            event,
            log,
        }
    }

    /// One HTTP exchange on gateway `n % gateways`.
    async fn exchange(
        &self,
        n: usize,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Result<Response, String> {
        let base = &self.bases[n % self.bases.len()];
        let mut req = self.http.request(method, format!("{base}{path}"));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.map_err(|e| format!("{e}"))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| format!("{e}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Response {
            status,
            retry_after,
            body,
        })
    }

    /// Runs `record` (its method, path, body and key) to its final outcome.
    pub(crate) async fn run(
        &self,
        record: &mut Record,
        method: Method,
        path: &str,
        bearer: Option<&str>,
    ) -> Option<Final> {
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let body = (!record.body.is_null()).then(|| record.body.to_string());
        let mut n = record.buyer;
        while Instant::now() < deadline {
            n += 1;
            let at_ms = self.log.ms();
            let unix_ms = Log::unix_ms();
            let started = Instant::now();
            let result = self
                .exchange(
                    n,
                    method.clone(),
                    path,
                    bearer,
                    record.key.as_deref(),
                    body.as_deref(),
                )
                .await;
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let mut attempt = Attempt {
                at_ms,
                unix_ms,
                ms,
                status: 0,
                retry_after: None,
                error: None,
                request_id: None,
            };
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    attempt.error = Some(e);
                    record.attempts.push(attempt);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                }
            };
            attempt.status = resp.status;
            attempt.retry_after.clone_from(&resp.retry_after);
            attempt.error = resp.body["error"]["code"].as_str().map(str::to_owned);
            let retry = resp.status == 429 || resp.status >= 500;
            if retry {
                record.attempts.push(attempt);
                let secs = resp
                    .retry_after
                    .as_deref()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.3);
                tokio::time::sleep(Duration::from_secs_f64(secs.clamp(0.1, 2.0))).await;
                continue;
            }
            if resp.status == StatusCode::ACCEPTED.as_u16() {
                let id = resp.body["request_id"].as_str().unwrap_or("").to_owned();
                attempt.request_id = Some(id.clone());
                record.attempts.push(attempt);
                return self.follow(record.buyer, &id, bearer, deadline).await;
            }
            record.attempts.push(attempt);
            return Some(Final {
                status: resp.status,
                body: resp.body,
                via: "reply",
                request_id: None,
            });
        }
        None
    }

    /// One poll (`kind` `status` or `request`), logged.
    async fn poll(
        &self,
        kind: &'static str,
        buyer: usize,
        n: usize,
        path: &str,
        credential: Option<&str>,
    ) -> Result<Response, String> {
        let at_ms = self.log.ms();
        let started = Instant::now();
        let result = self
            .exchange(n, Method::GET, path, credential, None, None)
            .await;
        self.log.poll(Poll {
            kind,
            buyer,
            at_ms,
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            status: result.as_ref().map_or(0, |r| r.status),
            retry_after: result.as_ref().ok().and_then(|r| r.retry_after.clone()),
        });
        result
    }

    /// Polls `GET /v1/requests/{id}` until `done` or `deadline`.
    async fn follow(
        &self,
        buyer: usize,
        id: &str,
        pass: Option<&str>,
        deadline: Instant,
    ) -> Option<Final> {
        let path = format!("/v1/requests/{id}");
        let mut n = 0;
        while Instant::now() < deadline {
            n += 1;
            self.log
                .request_polls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(r) = self.poll("request", buyer, n, &path, pass).await {
                if r.status == 200 && r.body["state"] == "done" {
                    return Some(Final {
                        status: r.body["status"].as_u64().and_then(|s| s.try_into().ok())?,
                        body: r.body["body"].clone(),
                        via: "request",
                        request_id: Some(id.to_owned()),
                    });
                }
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        None
    }

    /// Polls the queue status with `queue_token` until admitted: the pass, or how the
    /// wait ended otherwise (another final queue state, or `no answer` by the deadline).
    pub(crate) async fn wait_admitted(
        &self,
        buyer: usize,
        queue_token: &str,
    ) -> Result<String, String> {
        let path = format!("/v1/events/{}/queue", self.event);
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut n = buyer;
        while Instant::now() < deadline {
            n += 1;
            self.log
                .status_polls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(r) = self
                .poll("status", buyer, n, &path, Some(queue_token))
                .await
            {
                let state = r.body["state"].as_str().unwrap_or_default();
                if r.status == 200 && state == "admitted" {
                    return r.body["pass"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| "admitted without a pass".to_owned());
                }
                if r.status == 200 && !matches!(state, "waiting" | "prequeue") {
                    return Err(state.to_owned());
                }
                if r.status != 200 && !(r.status == 429 || r.status >= 500) {
                    return Err(format!("status {}", r.status));
                }
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Err("no answer".into())
    }
}

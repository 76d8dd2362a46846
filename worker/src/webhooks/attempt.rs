//! One attempt at a delivery: the URL check, the signature, the POST with its timeout,
//! and the delay before the next attempt.

use super::sign;
use crate::shard::ShardContext;
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;
use uuid::Uuid;

/// A claimed delivery, with what sending it needs.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Job {
    pub(super) id: Uuid,
    pub(super) endpoint_id: Uuid,
    pub(super) event_id: Uuid,
    pub(super) shard: i32,
    pub(super) attempts: i32,
    pub(super) message_id: Uuid,
    pub(super) body: String,
    pub(super) url: String,
    pub(super) secret: String,
    pub(super) previous_secret: Option<String>,
    pub(super) previous_until: Option<DateTime<Utc>>,
    pub(super) deleted: bool,
}

/// How an attempt ended.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) delivered: bool,
    pub(super) status: Option<i32>,
    pub(super) error: Option<String>,
    /// No retry can help (endpoint deleted, host not allowed).
    pub(super) final_failure: bool,
}

/// Whether `url` may be sent to: http or https, and its host in `allowed` (if any).
pub(crate) fn allowed(url: &reqwest::Url, allowed: &[String]) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

fn failure(error: impl Into<String>, final_failure: bool) -> Attempt {
    Attempt {
        delivered: false,
        status: None,
        error: Some(error.into()),
        final_failure,
    }
}

/// Signs and POSTs the message once.
pub(super) async fn send(ctx: &ShardContext, client: &reqwest::Client, job: &Job) -> Attempt {
    if job.deleted {
        return failure("endpoint deleted", true);
    }
    let url = match reqwest::Url::parse(&job.url) {
        Ok(u) if allowed(&u, &ctx.settings.webhook_allowed_hosts) => u,
        Ok(_) => return failure("host not allowed (webhook_allowed_hosts)", true),
        Err(e) => return failure(format!("invalid URL: {e}"), true),
    };
    let now = Utc::now();
    let mut secrets = vec![job.secret.as_str()];
    if let (Some(old), Some(until)) = (&job.previous_secret, job.previous_until) {
        if now < until {
            secrets.push(old);
        }
    }
    let msg_id = sign::message_id(job.message_id);
    let timestamp = now.timestamp();
    let signature = match sign::signature(&secrets, &msg_id, timestamp, &job.body) {
        Ok(s) => s,
        Err(e) => return failure(format!("cannot sign: {e}"), true),
    };
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(job.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status();
            Attempt {
                delivered: status.is_success(),
                status: Some(i32::from(status.as_u16())),
                error: (!status.is_success()).then(|| format!("answered {status}")),
                final_failure: false,
            }
        }
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            failure(what, false)
        }
    }
}

/// The delay before the attempt after `attempts` failed ones, or `None` when the
/// schedule is exhausted. Each delay is scaled by a random factor in [0.8, 1.2].
pub(crate) fn next_delay(delays: &[u64], attempts: usize) -> Option<Duration> {
    let base = *delays.get(attempts.checked_sub(1)?)?;
    let factor = rand::thread_rng().gen_range(0.8..=1.2);
    Some(Duration::from_secs_f64(base as f64 * factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_schedule_with_jitter_then_stop() {
        let delays = [5, 300];
        for _ in 0..100 {
            let first = next_delay(&delays, 1).unwrap().as_secs_f64();
            assert!((4.0..=6.0).contains(&first), "{first}");
            let second = next_delay(&delays, 2).unwrap().as_secs_f64();
            assert!((240.0..=360.0).contains(&second), "{second}");
        }
        assert_eq!(next_delay(&delays, 3), None);
        assert_eq!(next_delay(&delays, 0), None);
    }

    #[test]
    fn only_http_urls_to_allowed_hosts() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(allowed(&u("https://shop.example/hooks"), &[]));
        assert!(!allowed(&u("ftp://shop.example/hooks"), &[]));
        let list = vec!["shop.example".to_owned(), "::1".to_owned()];
        assert!(allowed(&u("https://SHOP.example/hooks"), &list));
        assert!(allowed(&u("http://[::1]:8080/"), &list));
        assert!(!allowed(&u("http://169.254.169.254/latest"), &list));
    }
}

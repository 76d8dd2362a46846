//! A fan's Status (API.md), for status polls, joins and the status stream.
//!
//! [`resolve`] answers from this replica's cached view when it can (no Redis call: see
//! `queue/estimate.rs` for the approximation) and records the fan as seen (flushed by the
//! watcher); otherwise (the ticket may have been admitted, the view is stale, the lottery
//! is being applied) it reads the ticket from Redis, counted in
//! `anteroom_status_redis_calls_total`.

use crate::catalog::EventSnapshot;
use crate::error::ApiError;
use crate::queue::estimate::EventFacts;
use crate::queue::{
    derive_state, estimate, eta, poll_after_ms, Estimate, QueueState, TicketState, TicketView,
};
use crate::state::AppState;
use crate::views::Status;
use chrono::{DateTime, Utc};
use protocol::event::PublicState;
use protocol::ids::TicketId;
use sha2::{Digest, Sha256};

/// Who asks for a Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A status poll or a status-stream check: its Redis calls are counted in
    /// `anteroom_status_redis_calls_total`.
    Status,
    /// A join that just read the ticket's state (a rejoin may find it admitted: then the
    /// pass is read from Redis at once, whatever the cached view says).
    Join(TicketState),
}

/// The Status of `ticket` (arrival number `seq`) in `snapshot`'s event, and the ticket
/// view it was rendered from.
///
/// # Errors
/// `404` if the ticket is unknown (left, or expired); `503` if Redis is needed and
/// unavailable; `500` if the pass cannot be signed.
pub async fn resolve(
    state: &AppState,
    snapshot: &EventSnapshot,
    ticket: TicketId,
    seq: u64,
    via: Via,
) -> Result<(Status, TicketView), ApiError> {
    let event = snapshot.config.id;
    let now = Utc::now();
    let live = state.live.event(&event);
    let view = live.view();
    let from_view = !state.live.is_settled(&ticket)
        && !matches!(
            via,
            Via::Join(TicketState::Admitted | TicketState::Abandoned)
        );
    if let Some(view) = view.as_ref().filter(|_| from_view) {
        let facts = EventFacts {
            has_prequeue: snapshot.config.spec.prequeue_opens_at.is_some(),
            before_open: now < snapshot.config.spec.opens_at,
        };
        let lottery = live.lottery();
        if let Some(est) = estimate(view, lottery.as_deref(), facts, &ticket, seq) {
            // A join has just set `last_seen_ms` itself (`join.lua`).
            if via == Via::Status {
                state.live.mark_seen(&event, ticket);
            }
            let (state_, ahead, line) = match est {
                Estimate::Prequeue => (TicketState::Prequeue, None, seq),
                Estimate::Waiting { ahead, line } => (TicketState::Waiting, Some(ahead), line),
            };
            let tv = TicketView {
                state: state_,
                ahead,
                admitted_ms: None,
                pass_exp_ms: None,
                seq,
                line,
                now_ms: now.timestamp_millis(),
            };
            let observed = view.observed_per_minute();
            let status = build_status(state, snapshot, ticket, &tv, observed, now)?;
            return Ok((status, tv));
        }
    }
    if via == Via::Status {
        state.metrics.status_redis_calls.inc();
    }
    let tv = state
        .queue
        .status(&event, &ticket)
        .await?
        .ok_or_else(|| ApiError::NotFound("ticket".into()))?;
    if matches!(tv.state, TicketState::Admitted | TicketState::Abandoned) {
        state.live.advance_head(&event, tv.line);
    }
    let observed = view.and_then(|v| v.observed_per_minute());
    Ok((
        build_status(state, snapshot, ticket, &tv, observed, now)?,
        tv,
    ))
}

/// Renders API.md's Status for `ticket` from its record and the event; `observed` is the
/// observed outflow, per minute, if known; `now` is this replica's clock, for the event's
/// public state (the ticket's own times are in `view`, on its clock).
///
/// # Errors
/// `500` if the pass cannot be signed.
pub fn build_status(
    state: &AppState,
    snapshot: &EventSnapshot,
    ticket: TicketId,
    view: &TicketView,
    observed: Option<f64>,
    now: DateTime<Utc>,
) -> Result<Status, ApiError> {
    let event = snapshot.config.id;
    let event_state = snapshot.state(now);
    let qs = derive_state(view, event_state);
    let ahead = view.ahead.filter(|_| qs == QueueState::Waiting);
    let eta = ahead
        .filter(|_| event_state == PublicState::Open)
        .and_then(|a| eta(a, snapshot.config.spec.admission.rate_per_minute, observed));
    let until_open = snapshot.config.spec.opens_at.timestamp_millis() - view.now_ms;
    let mut status = Status {
        ticket_id: ticket,
        event_id: event,
        state: qs,
        position: ahead.map(|a| a + 1),
        ahead,
        eta_seconds: eta.map(|e| e.seconds),
        eta_range_seconds: eta.map(|e| e.range),
        poll_after_ms: poll_after_ms(qs, eta, until_open),
        queue_token: None,
        pass: None,
        pass_expires_at: None,
    };
    if qs == QueueState::Admitted {
        let (Some(admitted_ms), Some(exp_ms)) = (view.admitted_ms, view.pass_exp_ms) else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "admitted ticket without admission times"
            )));
        };
        let jti = hex::encode(&Sha256::digest(format!("{ticket}:{admitted_ms}"))[..16]);
        let pass = state
            .tokens
            .issue_pass(&event, ticket, jti, admitted_ms / 1000, exp_ms / 1000)
            .map_err(|e| ApiError::Internal(e.into()))?;
        status.pass = Some(pass);
        status.pass_expires_at = DateTime::from_timestamp(exp_ms / 1000, 0);
    }
    Ok(status)
}

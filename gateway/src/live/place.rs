//! A fan's Status (`docs/API.md`): the body, and how it is computed for status polls,
//! joins and the status stream.
//!
//! [`resolve`] answers from this replica's cached view when it can (no Redis call: see
//! `queue/estimate.rs` for the approximation) and records the fan as seen (flushed by the
//! watcher); otherwise (the ticket may have been admitted, the view is stale, the lottery
//! is being applied) it reads the ticket from Redis, counted in
//! `anteroom_status_redis_calls_total`.
//!
//! [`resolve_claim`] is [`resolve`] for a fan who presents a valid queue token: a ticket
//! the queue no longer knows because Redis lost its data is put back first
//! (`queue/restore.rs`), so the common path costs nothing more.

use super::{LiveError, Replica};
use crate::adapters::redis_store::StoreError;
use crate::live::catalog::EventSnapshot;
use crate::queue::estimate::EventFacts;
use crate::queue::restore::{fallback_score, lottery_score, ticket_ms};
use crate::queue::{
    derive_state, estimate, eta, poll_after_ms, Claim, Estimate, PresentedPass, QueueState,
    Restored, TicketState, TicketView,
};
use crate::tokens::QueuePlace;
use chrono::{DateTime, Utc};
use protocol::event::PublicState;
use protocol::ids::EventId;
use protocol::ids::TicketId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// A fan's place in the queue (docs/API.md Status).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Status {
    /// Ticket id.
    pub ticket_id: TicketId,
    /// Event id.
    pub event_id: EventId,
    /// Where the ticket stands.
    pub state: QueueState,
    /// 1-based place among the waiting; `null` when unknown (pre-queue).
    pub position: Option<u64>,
    /// Tickets ahead; `null` when unknown.
    pub ahead: Option<u64>,
    /// Estimated wait, seconds; `null` when unknown (pre-queue, paused).
    pub eta_seconds: Option<u64>,
    /// Plausible wait range, seconds.
    pub eta_range_seconds: Option<[u64; 2]>,
    /// When to poll next, ms.
    pub poll_after_ms: u64,
    /// The queue token (on join).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_token: Option<String>,
    /// The pass (only when admitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// When the pass expires (only when admitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub pass_expires_at: Option<DateTime<Utc>>,
}

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
/// view it was rendered from. A pass it carries names `user_ref`, the signed user
/// reference of the fan's join, if any.
///
/// # Errors
/// [`LiveError::NotFound`] if the ticket is unknown (left, or expired);
/// [`LiveError::Store`] if Redis is needed and unavailable; [`LiveError::Internal`] if
/// the pass cannot be signed.
pub async fn resolve(
    replica: &Replica,
    snapshot: &EventSnapshot,
    ticket: TicketId,
    seq: u64,
    user_ref: Option<&str>,
    via: Via,
) -> Result<(Status, TicketView), LiveError> {
    let event = snapshot.config.id;
    let now = Utc::now();
    replica.interest.demand(&event);
    let live = replica.live.event(&event);
    let view = live.view();
    let from_view = !replica.live.is_settled(&ticket)
        && live.trusted()
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
                replica.live.mark_seen(&event, ticket);
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
            let status = build_status(replica, snapshot, ticket, user_ref, &tv, observed, now)?;
            return Ok((status, tv));
        }
    }
    if via == Via::Status {
        replica.metrics.status_redis_calls.inc();
    }
    let tv = replica
        .queue
        .status(&event, &ticket)
        .await?
        .ok_or(LiveError::NotFound("ticket"))?;
    if matches!(tv.state, TicketState::Admitted | TicketState::Abandoned) {
        replica.live.advance_head(&event, tv.line);
    }
    let observed = view.and_then(|v| v.observed_per_minute());
    Ok((
        build_status(replica, snapshot, ticket, user_ref, &tv, observed, now)?,
        tv,
    ))
}

/// [`resolve`] for the holder of a valid queue token proving `place` (ticket, arrival
/// number, user reference),
/// with the raw pass it presented, if any: if the ticket is unknown and Redis lost it,
/// it is put back first (`Queue::restore`: at its place, or admitted again if the pass
/// is live) and resolved again.
///
/// # Errors
/// As [`resolve`]; [`LiveError::NotFound`] if the ticket is unknown and was not lost (it
/// left or expired).
pub async fn resolve_claim(
    replica: &Replica,
    snapshot: &EventSnapshot,
    place: &QueuePlace,
    pass: Option<&str>,
    via: Via,
) -> Result<(Status, TicketView), LiveError> {
    let (ticket, seq, user_ref) = (place.ticket, place.seq, place.user_ref.as_deref());
    match resolve(replica, snapshot, ticket, seq, user_ref, via).await {
        Err(LiveError::NotFound(what)) if what == "ticket" => {
            match restore_claim(replica, snapshot, ticket, seq, pass).await? {
                Restored::Gone => Err(LiveError::NotFound(what)),
                _ => resolve(replica, snapshot, ticket, seq, user_ref, via).await,
            }
        }
        other => other,
    }
}

/// Puts `ticket` back in `snapshot`'s queue if Redis lost it (see `queue/restore.rs`):
/// a shuffled pre-queue ticket at its lottery rank if this replica kept the record,
/// else as [`Claim`] describes; admitted again if `pass` is a live pass of the ticket.
///
/// # Errors
/// [`StoreError::Unavailable`] if Redis is unavailable.
pub async fn restore_claim(
    replica: &Replica,
    snapshot: &EventSnapshot,
    ticket: TicketId,
    seq: u64,
    pass: Option<&str>,
) -> Result<Restored, StoreError> {
    let event = snapshot.config.id;
    let now = Utc::now();
    let pass = pass
        .and_then(|p| replica.tokens.verify_pass(p, Some(&event)).ok())
        .filter(|(claims, _)| claims.sub == ticket)
        .map(|(claims, _)| {
            // The exact admission ms is the one that gives the pass its `jti` (as
            // `build_status` derives it), so the pass issued again is the same.
            let base = claims.iat * 1000;
            let admitted_ms = (base..base + 1000)
                .find(|ms| pass_jti(ticket, *ms) == claims.jti)
                .unwrap_or(base);
            PresentedPass {
                admitted_ms,
                expires_ms: admitted_ms + (claims.exp - claims.iat) * 1000,
            }
        });
    let spec = &snapshot.config.spec;
    let ranked = replica
        .live
        .lottery(&event)
        .and_then(|l| Some((l.rank(&ticket)?, l.order.len() as u64)));
    let claim = if let Some((rank, total)) = ranked {
        Claim::Lottery {
            score: lottery_score(rank, total),
            line: Some(rank),
        }
    } else if spec.prequeue_opens_at.is_some()
        && i64::try_from(ticket_ms(&ticket)).unwrap_or(i64::MAX) < spec.opens_at.timestamp_millis()
    {
        let seed = snapshot
            .public_seed(now)
            .and_then(|hex_seed| hex::decode(hex_seed).ok());
        let fallback = fallback_score(seed.as_deref(), &ticket);
        if now < spec.opens_at {
            Claim::Prequeue { fallback }
        } else {
            Claim::Lottery {
                score: fallback,
                line: None,
            }
        }
    } else {
        Claim::Waiting
    };
    let restored = replica
        .queue
        .restore(&event, &ticket, seq, claim, pass)
        .await?;
    if let Restored::Back(back) = restored {
        replica
            .metrics
            .places_restored
            .with_label_values(&[state_label(back)])
            .inc();
        tracing::info!(event_id = %event, ticket_id = %ticket, seq, state = state_label(back),
            "put a ticket Redis had lost back in line");
        if matches!(back, TicketState::Waiting | TicketState::Prequeue) {
            replica.live.unsettle(&ticket);
        }
    }
    Ok(restored)
}

fn state_label(s: TicketState) -> &'static str {
    match s {
        TicketState::Prequeue => "prequeue",
        TicketState::Waiting => "waiting",
        TicketState::Admitted => "admitted",
        TicketState::Abandoned => "abandoned",
    }
}

/// The `jti` of the pass of `ticket` admitted at `admitted_ms`.
fn pass_jti(ticket: TicketId, admitted_ms: i64) -> String {
    hex::encode(&Sha256::digest(format!("{ticket}:{admitted_ms}"))[..16])
}

/// Renders docs/API.md's Status for `ticket` from its record and the event; `observed` is the
/// observed outflow, per minute, if known; `now` is this replica's clock, for the event's
/// public state (the ticket's own times are in `view`, on its clock).
///
/// # Errors
/// [`LiveError::Internal`] if the pass cannot be signed.
pub fn build_status(
    replica: &Replica,
    snapshot: &EventSnapshot,
    ticket: TicketId,
    user_ref: Option<&str>,
    view: &TicketView,
    observed: Option<f64>,
    now: DateTime<Utc>,
) -> Result<Status, LiveError> {
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
            return Err(LiveError::Internal(anyhow::anyhow!(
                "admitted ticket without admission times"
            )));
        };
        let jti = pass_jti(ticket, admitted_ms);
        let pass = replica
            .tokens
            .issue_pass_with_user(
                &event,
                ticket,
                jti,
                admitted_ms / 1000,
                exp_ms / 1000,
                user_ref.map(str::to_owned),
            )
            .map_err(|e| LiveError::Internal(e.into()))?;
        status.pass = Some(pass);
        status.pass_expires_at = DateTime::from_timestamp(exp_ms / 1000, 0);
    }
    Ok(status)
}

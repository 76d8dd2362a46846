//! A fan's place (`status.lua`) and what the gateway tells them: state, ETA and when to
//! poll again. The derivations are pure functions, unit-tested below.
//!
//! ETA = ahead / outflow. The outflow is the venue's `rate_per_minute`, or the outflow
//! observed over the last minute when that is lower (admission capped by `max_active`,
//! seats all held, a pause). Range: from 85% of `ahead / rate` (never faster than the
//! rate, but fans ahead may leave) to 115% of the estimate.

use super::Queue;
use crate::adapters::redis_store::StoreError;
use protocol::event::PublicState;
use protocol::ids::{EventId, TicketId};
use serde::Serialize;
use utoipa::ToSchema;

/// A ticket's state as recorded in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// In the pre-queue, before the shuffle.
    Prequeue,
    /// In the waiting set.
    Waiting,
    /// Admitted: holds a pass until `pass_exp_ms`.
    Admitted,
    /// Skipped by admission after not polling for `abandon_after_seconds`.
    Abandoned,
}

impl TicketState {
    /// Parses the `state` field of a ticket record.
    ///
    /// # Errors
    /// [`StoreError::Internal`] on an unknown state (a bug or a version mismatch).
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "prequeue" => Ok(TicketState::Prequeue),
            "waiting" => Ok(TicketState::Waiting),
            "admitted" => Ok(TicketState::Admitted),
            "abandoned" => Ok(TicketState::Abandoned),
            other => Err(StoreError::Internal(anyhow::anyhow!(
                "unknown ticket state {other:?}"
            ))),
        }
    }
}

/// A ticket's record read by `status.lua`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketView {
    /// Recorded state.
    pub state: TicketState,
    /// Tickets ahead in the waiting set (only when `Waiting`).
    pub ahead: Option<u64>,
    /// When admitted, Unix ms.
    pub admitted_ms: Option<i64>,
    /// When the pass expires, Unix ms.
    pub pass_exp_ms: Option<i64>,
    /// Arrival number.
    pub seq: u64,
    /// Place in admission order: the lottery rank of a shuffled pre-queue ticket, else
    /// the arrival number (see `queue/mod.rs`).
    pub line: u64,
    /// Redis clock at the read, Unix ms.
    pub now_ms: i64,
}

/// The `state` of docs/API.md's Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for the shuffle at `opens_at`; position unknown.
    Prequeue,
    /// Waiting in line.
    Waiting,
    /// Admitted: `pass` is in the Status.
    Admitted,
    /// The pass expired, or the place was lost by not polling.
    Expired,
    /// The venue closed the queue.
    Closed,
    /// No seats left.
    SoldOut,
}

/// Estimated wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eta {
    /// Best estimate, seconds.
    pub seconds: u64,
    /// Plausible range, seconds.
    pub range: [u64; 2],
}

/// The Status state of a ticket in an event in `event_state`.
pub fn derive_state(ticket: &TicketView, event_state: PublicState) -> QueueState {
    match ticket.state {
        TicketState::Admitted => {
            if ticket.pass_exp_ms.is_some_and(|exp| exp > ticket.now_ms) {
                QueueState::Admitted
            } else {
                QueueState::Expired
            }
        }
        TicketState::Abandoned => QueueState::Expired,
        TicketState::Prequeue | TicketState::Waiting => match event_state {
            PublicState::Closed => QueueState::Closed,
            PublicState::SoldOut => QueueState::SoldOut,
            _ if ticket.state == TicketState::Prequeue => QueueState::Prequeue,
            _ => QueueState::Waiting,
        },
    }
}

/// ETA for `ahead` tickets at `rate_per_minute`, given the outflow observed over the last
/// minute (admissions per minute), if known; below one per minute it is ignored. `None`
/// if the rate is zero.
pub fn eta(ahead: u64, rate_per_minute: u32, observed_per_minute: Option<f64>) -> Option<Eta> {
    if rate_per_minute == 0 {
        return None;
    }
    let rate = f64::from(rate_per_minute);
    let outflow = observed_per_minute
        .filter(|o| *o >= 1.0)
        .map_or(rate, |o| o.min(rate));
    let secs = |per_minute: f64| ahead as f64 * 60.0 / per_minute;
    let center = secs(outflow);
    Some(Eta {
        seconds: center.ceil() as u64,
        range: [
            (secs(rate) * 0.85).floor() as u64,
            (center * 1.15).ceil() as u64,
        ],
    })
}

/// When the client should poll next, in ms: 1000 near the front (or just before the
/// pre-queue opens), up to 15000 far back. Rounded to 100 ms.
pub fn poll_after_ms(state: QueueState, eta: Option<Eta>, ms_until_open: i64) -> u64 {
    let ms = match state {
        QueueState::Waiting => match eta {
            Some(e) => e.seconds.saturating_mul(1000) / 30,
            None => 5_000,
        },
        QueueState::Prequeue => u64::try_from(ms_until_open).unwrap_or(0),
        _ => 15_000,
    };
    (ms.clamp(1_000, 15_000) / 100) * 100
}

impl Queue {
    /// Reads `ticket`'s place and refreshes its `last_seen`; `None` if the ticket is
    /// unknown (left, or its record expired).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] on a
    /// malformed record.
    #[tracing::instrument(level = "debug", skip_all, fields(event_id = %event, ticket_id = %ticket))]
    pub async fn status(
        &self,
        event: &EventId,
        ticket: &TicketId,
    ) -> Result<Option<TicketView>, StoreError> {
        let k = self.keys(event);
        type Raw = Option<(String, i64, String, String, String, i64, String)>;
        let raw: Raw = self
            .redis
            .script(
                &self.scripts.status,
                &[k.ticket(ticket), k.waiting()],
                &[self.ticket_ttl_seconds.to_string(), ticket.to_string()],
            )
            .await?;
        let Some((state, ahead, admitted, pass_exp, seq, now_ms, line)) = raw else {
            return Ok(None);
        };
        let seq = seq.parse().unwrap_or(0);
        Ok(Some(TicketView {
            state: TicketState::parse(&state)?,
            ahead: u64::try_from(ahead).ok(),
            admitted_ms: admitted.parse().ok(),
            pass_exp_ms: pass_exp.parse().ok(),
            seq,
            line: line.parse().unwrap_or(seq),
            now_ms,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: TicketState, pass_exp_ms: Option<i64>) -> TicketView {
        TicketView {
            state,
            ahead: Some(3),
            admitted_ms: None,
            pass_exp_ms,
            seq: 4,
            line: 4,
            now_ms: 1_000,
        }
    }

    #[test]
    fn state_derivation() {
        use PublicState as P;
        use QueueState as Q;
        use TicketState as T;
        let cases = [
            (view(T::Waiting, None), P::Open, Q::Waiting),
            (view(T::Waiting, None), P::Paused, Q::Waiting),
            (view(T::Waiting, None), P::Closed, Q::Closed),
            (view(T::Waiting, None), P::SoldOut, Q::SoldOut),
            (view(T::Prequeue, None), P::Prequeue, Q::Prequeue),
            (view(T::Prequeue, None), P::SoldOut, Q::SoldOut),
            (view(T::Admitted, Some(2_000)), P::Open, Q::Admitted),
            (view(T::Admitted, Some(2_000)), P::SoldOut, Q::Admitted),
            (view(T::Admitted, Some(1_000)), P::Open, Q::Expired),
            (view(T::Abandoned, None), P::Open, Q::Expired),
        ];
        for (v, event, want) in cases {
            assert_eq!(derive_state(&v, event), want, "{v:?} in {event:?}");
        }
    }

    #[test]
    fn eta_is_ahead_over_rate_with_a_range() {
        let e = eta(1531, 600, None).unwrap();
        assert_eq!(e.seconds, 154); // 153.1 s
        assert_eq!(e.range, [130, 177]);
        assert_eq!(eta(0, 600, None).unwrap().range, [0, 0]);
        assert!(eta(10, 0, None).is_none());
    }

    #[test]
    fn slower_observed_outflow_lengthens_the_estimate() {
        let e = eta(600, 600, Some(300.0)).unwrap();
        assert_eq!(e.seconds, 120);
        assert_eq!(e.range, [51, 138]);
        // Faster observed outflow does not shorten it; below one per minute is ignored.
        assert_eq!(eta(600, 600, Some(900.0)).unwrap().range, [51, 69]);
        assert_eq!(eta(600, 600, Some(0.5)).unwrap().range, [51, 69]);
    }

    #[test]
    fn polls_often_near_the_front_rarely_far_back() {
        let near = eta(2, 600, None);
        assert_eq!(poll_after_ms(QueueState::Waiting, near, 0), 1_000);
        let mid = eta(1531, 600, None);
        assert_eq!(poll_after_ms(QueueState::Waiting, mid, 0), 5_100);
        let far = eta(1_000_000, 600, None);
        assert_eq!(poll_after_ms(QueueState::Waiting, far, 0), 15_000);
        assert_eq!(poll_after_ms(QueueState::Prequeue, None, 3_456), 3_400);
        assert_eq!(poll_after_ms(QueueState::Prequeue, None, -5), 1_000);
        assert_eq!(poll_after_ms(QueueState::Admitted, None, 0), 15_000);
    }
}

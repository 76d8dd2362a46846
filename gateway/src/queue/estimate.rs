//! A fan's place without a Redis call, from the queue token's arrival number and this
//! replica's cached [`QueueView`] (refreshed a few times a second by its watcher).
//!
//! Admission passes tickets in increasing *line* order (lottery rank for the shuffled
//! pre-queue, then arrival number) and records the furthest line passed (`head_line`).
//! A ticket whose line is beyond it still waits, with about `line - head_line - 1`
//! tickets ahead.
//!
//! The approximation: that count includes tickets that left or were abandoned but have
//! not been passed yet (the exact count needs `ZCOUNT` on the waiting set, one Redis call
//! per poll); it is exact when nobody ahead left, and never too small. A ticket at or
//! behind the head (possibly admitted) is answered from Redis, as is every ticket the
//! watcher's seen-flush reported as no longer waiting.

use super::{Lottery, QueueView, ShuffleMarker};
use protocol::ids::TicketId;

/// Where a ticket stands according to the cached view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimate {
    /// In the pre-queue, before the lottery.
    Prequeue,
    /// Waiting with about `ahead` tickets ahead.
    Waiting {
        /// Tickets ahead (an upper bound; see the module doc).
        ahead: u64,
        /// The ticket's line.
        line: u64,
    },
}

/// What the estimate needs to know about the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFacts {
    /// The event has a pre-queue.
    pub has_prequeue: bool,
    /// `opens_at` is still in the future.
    pub before_open: bool,
}

/// The estimate for `ticket` (arrival number `seq`), or `None` when only Redis can tell:
/// the ticket may have been passed, the lottery is being applied, or this replica has
/// not loaded the lottery record yet.
pub fn estimate(
    view: &QueueView,
    lottery: Option<&Lottery>,
    event: EventFacts,
    ticket: &TicketId,
    seq: u64,
) -> Option<Estimate> {
    let line = match view.marker {
        ShuffleMarker::Open if event.has_prequeue => {
            // Before the freeze every join enters the pre-queue, unless a replica already
            // saw opens_at (then Redis knows which set the ticket is in).
            return event.before_open.then_some(Estimate::Prequeue);
        }
        ShuffleMarker::Open => seq,
        ShuffleMarker::Frozen => return None,
        ShuffleMarker::Done => lottery?.rank(ticket).unwrap_or(seq),
    };
    (line > view.head_line).then(|| Estimate::Waiting {
        ahead: line - view.head_line - 1,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::lottery_order;

    const OPEN: EventFacts = EventFacts {
        has_prequeue: false,
        before_open: false,
    };

    fn view(marker: ShuffleMarker, head_line: u64) -> QueueView {
        QueueView {
            marker,
            head_line,
            ..QueueView::empty(0)
        }
    }

    #[test]
    fn ahead_is_the_distance_to_the_head() {
        let t = TicketId::new();
        let v = view(ShuffleMarker::Open, 10);
        assert_eq!(
            estimate(&v, None, OPEN, &t, 11),
            Some(Estimate::Waiting { ahead: 0, line: 11 })
        );
        assert_eq!(
            estimate(&v, None, OPEN, &t, 25),
            Some(Estimate::Waiting {
                ahead: 14,
                line: 25
            })
        );
        assert_eq!(estimate(&v, None, OPEN, &t, 10), None, "passed: ask Redis");
        assert_eq!(estimate(&v, None, OPEN, &t, 3), None);
    }

    #[test]
    fn the_prequeue_before_open_and_during_the_shuffle() {
        let t = TicketId::new();
        let facts = EventFacts {
            has_prequeue: true,
            before_open: true,
        };
        let open = view(ShuffleMarker::Open, 0);
        assert_eq!(
            estimate(&open, None, facts, &t, 5),
            Some(Estimate::Prequeue)
        );
        let opened = EventFacts {
            before_open: false,
            ..facts
        };
        assert_eq!(estimate(&open, None, opened, &t, 5), None, "not frozen yet");
        let frozen = view(ShuffleMarker::Frozen, 0);
        assert_eq!(estimate(&frozen, None, opened, &t, 5), None);
        let done = view(ShuffleMarker::Done, 0);
        assert_eq!(
            estimate(&done, None, opened, &t, 5),
            None,
            "lottery not loaded"
        );
    }

    #[test]
    fn after_the_shuffle_lottery_ranks_come_first() {
        let pre: Vec<TicketId> = (0..5).map(|_| TicketId::new()).collect();
        let order = lottery_order(&[3; 32], &pre);
        let lottery = Lottery::new(pre.clone(), order.clone());
        let facts = EventFacts {
            has_prequeue: true,
            before_open: false,
        };
        let v = view(ShuffleMarker::Done, 2);
        // Rank 3 with two passed: first in line, whatever its arrival number.
        assert_eq!(
            estimate(&v, Some(&lottery), facts, &order[2], 1),
            Some(Estimate::Waiting { ahead: 0, line: 3 })
        );
        assert_eq!(estimate(&v, Some(&lottery), facts, &order[1], 5), None);
        // A later arrival (seq 6): behind the three pre-queue tickets left.
        let late = TicketId::new();
        assert_eq!(
            estimate(&v, Some(&lottery), facts, &late, 6),
            Some(Estimate::Waiting { ahead: 3, line: 6 })
        );
    }
}

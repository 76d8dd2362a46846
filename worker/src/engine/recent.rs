//! Recent request outcomes of one event, so a command seen twice (a duplicate delivery
//! in the same session) gets the first outcome again instead of being applied twice.
//!
//! Bounded FIFO: the oldest entries are forgotten first. Older replays are caught by the
//! consumer, which looks redelivered commands up in `request_results` (PostgreSQL).

use protocol::ids::RequestId;
use protocol::reply::Outcome;
use std::collections::{HashMap, VecDeque};

/// Outcomes remembered per event.
pub(crate) const RECENT_PER_EVENT: usize = 16_384;

/// A bounded map request id → outcome.
#[derive(Debug, Clone)]
pub(crate) struct Recent {
    map: HashMap<RequestId, Outcome>,
    order: VecDeque<RequestId>,
    cap: usize,
}

impl Recent {
    /// Remembers at most `cap` outcomes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// The outcome of `id`, if it was decided recently.
    pub(crate) fn get(&self, id: &RequestId) -> Option<&Outcome> {
        self.map.get(id)
    }

    /// Remembers `outcome` for `id`, forgetting the oldest entry when full.
    pub(crate) fn insert(&mut self, id: RequestId, outcome: Outcome) {
        if self.map.insert(id, outcome).is_none() {
            self.order.push_back(id);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

impl Default for Recent {
    fn default() -> Self {
        Self::new(RECENT_PER_EVENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::reply::ErrorCode;

    #[test]
    fn forgets_the_oldest_first() {
        let mut r = Recent::new(2);
        let ids: Vec<RequestId> = (0..3).map(|_| RequestId::new()).collect();
        for id in &ids {
            r.insert(*id, Outcome::rejected(ErrorCode::NotFound, "x"));
        }
        assert!(r.get(&ids[0]).is_none());
        assert!(r.get(&ids[1]).is_some());
        assert!(r.get(&ids[2]).is_some());
    }
}

//! Group commit of joins: the new tickets of an event that arrive while the previous
//! commit is in flight are written together, by one `join_group.lua` call, instead of
//! one script call each (the technique databases use for their log: gather the writes
//! that queue up behind a flush and flush them at once).
//!
//! Why: a script call costs Redis several microseconds before its first command
//! (`EVALSHA` look-up, the `KEYS`/`ARGV` tables, `TIME`, `INCR`, the `ZADD` dispatch),
//! and costs the gateway a command to encode, a write, a reply to parse. Grouped, those
//! costs are paid once per commit; only the ticket record (`HSET` + `EXPIRE`) and its
//! `ZADD` member stay per join. Figures: `docs/BENCHMARKS.md`.
//!
//! How: each replica has one committer task, fed by an unbounded channel. It takes the
//! first waiting join, then every join already queued behind it (at most
//! [`MAX_GROUP`]), splits them by event and mode keeping their order, runs one script
//! call per group (groups of different events at the same time), answers every join,
//! and starts again. There is no timer: a lone join is committed at once, and under
//! load the joins that arrive during one commit make the next one, so a join waits at
//! most one commit longer than a single call would.
//!
//! Order: within a group, tickets get consecutive arrival numbers in the order their
//! requests reached the committer, and one replica's commits run one after another.
//! Across replicas, arrival order is the order Redis runs their commits, as it was the
//! order it ran their single joins.
//!
//! Failure: a failed commit fails every join in it the same way (unavailable when Redis is
//! unavailable or slow), and the joins queued behind a commit Redis did not answer fail
//! with it, so no join waits for two Redis timeouts; no join is answered with a ticket
//! that was not written. The
//! committer is started on the first join and started again if its runtime went away.

use super::{QueueKeys, SeqFloors, TicketState};
use crate::adapters::redis_store::RedisStore;
use crate::adapters::redis_store::StoreError;
use futures::future::join_all;
use prometheus::IntCounter;
use protocol::ids::{EventId, TicketId};
use protocol::names::RedisKeys;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};

/// Most joins in one commit (the script's `ZADD` takes 2 values per ticket; Lua's
/// `unpack` is limited to a few thousand).
pub const MAX_GROUP: usize = 256;

/// A new ticket, as committed: its arrival number and state (`Waiting`, or `Prequeue`
/// before the lottery froze the pre-queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Arrival number.
    pub seq: u64,
    /// `Prequeue` or `Waiting`.
    pub state: TicketState,
}

/// One join waiting for its commit.
struct Pending {
    event: EventId,
    prequeue: bool,
    ticket: TicketId,
    reply: oneshot::Sender<Result<Committed, StoreError>>,
}

/// What a commit needs, shared by the callers and the committer task.
struct Committer {
    redis: RedisStore,
    keys: RedisKeys,
    script: redis::Script,
    ticket_ttl_seconds: u64,
    commits: IntCounter,
    floors: Arc<SeqFloors>,
}

/// The join committer of one replica (see the module doc). Cheap to share.
pub struct GroupCommit {
    committer: Arc<Committer>,
    queue: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
}

impl GroupCommit {
    /// A committer writing to `redis` under `keys`; ticket records live
    /// `ticket_ttl_seconds`; the arrival numbers it issues stay above `floors` and raise
    /// them (see `join_group.lua`).
    pub fn new(
        redis: RedisStore,
        keys: RedisKeys,
        ticket_ttl_seconds: u64,
        floors: Arc<SeqFloors>,
    ) -> Self {
        Self {
            committer: Arc::new(Committer {
                redis,
                keys,
                script: redis::Script::new(include_str!("join_group.lua")),
                ticket_ttl_seconds,
                commits: IntCounter::new(
                    "anteroom_join_commits_total",
                    "Group commits of new tickets (join_group.lua calls, failed ones too); \
                     anteroom_queue_joins_total divided by this is the mean group size",
                )
                .expect("valid metric"),
                floors,
            }),
            queue: Mutex::new(None),
        }
    }

    /// `anteroom_join_commits_total`: script calls made (registered by `live::Replica::new`).
    pub fn commits(&self) -> &IntCounter {
        &self.committer.commits
    }

    /// Commits `ticket` as a new ticket of `event` (in the pre-queue if `prequeue` and
    /// the lottery has not frozen it), with the joins around it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable (for every join of the commit);
    /// [`StoreError::Internal`] if the committer cannot be reached or the script answers
    /// nonsense.
    pub async fn join(
        &self,
        event: &EventId,
        prequeue: bool,
        ticket: TicketId,
    ) -> Result<Committed, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Pending {
            event: *event,
            prequeue,
            ticket,
            reply,
        });
        answer.await.map_err(|_| {
            StoreError::Internal(anyhow::anyhow!("the join committer stopped mid-commit"))
        })?
    }

    /// Hands `join` to the committer task, starting it if there is none (first join) or
    /// it is gone (its runtime shut down: tests run one runtime each).
    fn enqueue(&self, join: Pending) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let join = match queue.as_ref() {
            Some(tx) => match tx.send(join) {
                Ok(()) => return,
                Err(mpsc::error::SendError(join)) => join,
            },
            None => join,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(self.committer.clone(), rx));
        // The receiver is alive: it was just made and the task owns it.
        let _ = tx.send(join);
        *queue = Some(tx);
    }
}

/// The committer task: one group of commits at a time, until every sender is gone.
///
/// When Redis did not answer a commit (unavailable or past its timeout), the joins that
/// queued behind it are answered `503` at once instead of making the next commit: they
/// have already waited up to one Redis timeout, and a second call to a Redis that just
/// failed would double a fan's wait during an outage. Joins arriving afterwards start
/// a fresh commit, so recovery needs nothing more.
async fn run(committer: Arc<Committer>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut batch, MAX_GROUP).await > 0 {
        let groups = split(std::mem::take(&mut batch));
        let failures = join_all(groups.into_iter().map(|g| committer.commit(g))).await;
        if let Some(cause) = failures.into_iter().flatten().next() {
            while let Ok(join) = rx.try_recv() {
                let _ = join.reply.send(Err(StoreError::Unavailable(cause.clone())));
            }
        }
    }
}

/// Joins of one event and mode, in arrival order.
struct Group {
    event: EventId,
    prequeue: bool,
    joins: Vec<Pending>,
}

/// Splits `batch` by (event, mode), keeping the order of joins within each group.
fn split(batch: Vec<Pending>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for join in batch {
        match groups
            .iter_mut()
            .find(|g| g.event == join.event && g.prequeue == join.prequeue)
        {
            Some(group) => group.joins.push(join),
            None => groups.push(Group {
                event: join.event,
                prequeue: join.prequeue,
                joins: vec![join],
            }),
        }
    }
    groups
}

impl Committer {
    /// One `join_group.lua` call for `group`, then an answer to each of its joins.
    /// Returns the cause when Redis was unavailable, for the joins queued behind it.
    async fn commit(&self, group: Group) -> Option<String> {
        let k = QueueKeys::new(&self.keys, &group.event);
        let keys = [
            k.seq(),
            k.waiting(),
            k.prequeue(),
            k.shuffled(),
            k.epoch(),
            k.restoring(),
        ];
        let mut args = Vec::with_capacity(5 + group.joins.len());
        args.push(if group.prequeue { "prequeue" } else { "open" }.to_string());
        args.push(k.ticket_prefix());
        args.push(self.ticket_ttl_seconds.to_string());
        args.push(self.floors.get(&group.event).to_string());
        args.push(super::restore::RESTORE_GRACE_MS.to_string());
        args.extend(group.joins.iter().map(|j| j.ticket.to_string()));
        self.commits.inc();
        let result = self
            .redis
            .script::<(u64, String)>(&self.script, &keys, &args)
            .await
            .and_then(|(first, state)| Ok((first, TicketState::parse(&state)?)));
        match result {
            Ok((first, state)) => {
                let last = first + group.joins.len() as u64 - 1;
                self.floors.raise(&group.event, last);
                for (seq, join) in (first..).zip(group.joins) {
                    let _ = join.reply.send(Ok(Committed { seq, state }));
                }
                None
            }
            Err(e) => {
                for join in group.joins {
                    let _ = join.reply.send(Err(share(&e)));
                }
                match e {
                    StoreError::Unavailable(cause) => Some(cause),
                    StoreError::Internal(_) => None,
                }
            }
        }
    }
}

/// The same error for each join of a failed commit.
fn share(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(cause) => StoreError::Unavailable(cause.clone()),
        other => StoreError::Internal(anyhow::anyhow!("join commit failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(event: EventId, prequeue: bool) -> (Pending, TicketId) {
        let ticket = TicketId::new();
        let (reply, _) = oneshot::channel();
        (
            Pending {
                event,
                prequeue,
                ticket,
                reply,
            },
            ticket,
        )
    }

    #[test]
    fn split_groups_by_event_and_mode_keeping_arrival_order() {
        let (a, b) = (EventId::new(), EventId::new());
        let mut batch = Vec::new();
        let mut order = Vec::new();
        for (event, prequeue) in [(a, false), (b, false), (a, false), (a, true), (b, false)] {
            let (p, t) = pending(event, prequeue);
            batch.push(p);
            order.push((event, prequeue, t));
        }
        let groups = split(batch);
        assert_eq!(groups.len(), 3);
        for g in &groups {
            let expected: Vec<TicketId> = order
                .iter()
                .filter(|(e, p, _)| *e == g.event && *p == g.prequeue)
                .map(|(_, _, t)| *t)
                .collect();
            let got: Vec<TicketId> = g.joins.iter().map(|j| j.ticket).collect();
            assert_eq!(got, expected);
        }
        assert_eq!((groups[0].event, groups[0].prequeue), (a, false));
        assert_eq!(groups[0].joins.len(), 2);
    }

    #[test]
    fn a_failed_commit_keeps_503_for_every_join() {
        let e = StoreError::unavailable("call timed out");
        assert!(matches!(share(&e), StoreError::Unavailable(_)));
        let bug = StoreError::internal("odd answer");
        assert!(matches!(share(&bug), StoreError::Internal(_)));
    }
}

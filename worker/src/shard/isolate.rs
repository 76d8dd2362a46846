//! Poison isolation: a batch whose commit PostgreSQL refused (a permanent error, see
//! `repo/classify.rs`) is split until the command at fault stands alone; every other
//! command commits, in delivery order, and the one at fault gets a stored error outcome.
//! One command PostgreSQL can never store therefore costs its batch one failed commit
//! and a few small ones, never a stall of the shard.
//!
//! **Split strategy: bisection.** The engine is rebuilt from PostgreSQL (the failed
//! attempt mutated it), then the batch is split in halves; a part that commits is done, a part that fails is split
//! again, down to one command. Parts are decided and committed strictly left to right,
//! each on the state the parts before it left, so the order of decisions is the
//! delivery order, as without a failure. One poison command among `n` costs about
//! `2·log2(n)` small transactions (16 for a full batch of 256, a few ms each), where
//! committing one command at a time would cost `n` (about a second for 256). Before
//! each part the engine is cloned in memory, and put back if the part fails, so the
//! failed part's decisions leave no trace and no part needs another rebuild from
//! PostgreSQL.
//!
//! **The command at fault** gets `422 invalid_field` when PostgreSQL refused one of its
//! values (SQLSTATE class 22: a data exception raised by the only command in the
//! transaction), else `500 internal` (a constraint the engine did not foresee, such as a
//! claim of a seat PostgreSQL holds for someone else: the engine and the database
//! disagree, so the answer says nothing about the seats rather than a `409` the seat map
//! would contradict). The outcome is stored in `request_results` in a transaction of its
//! own that holds nothing from the request but ids, so it is storable; without the
//! idempotency key, so a retry with the same key is decided afresh. If even that is
//! refused, the delivery becomes a dead letter (`dead_letters.rs`) and gets no reply.
//!
//! **Expiry that PostgreSQL refuses** (no command at fault: the part that fails alone
//! is a probe, whose watermark expired holds): the holds stay ended in memory, so the
//! shard goes on, and stay claimed in PostgreSQL, so their seats cannot be sold twice (a
//! new hold of one of them is refused by the claim key and isolated); logged as an error
//! and counted in `anteroom_worker_expiries_unwritten_total`. The next rebuild (a
//! transient failure, a takeover) tries them again, once.
//!
//! A transient failure in the middle (PostgreSQL gone) ends the isolation: the caller
//! retries with backoff, rebuilding the engine and answering the parts already committed
//! from their stored results.

use super::batch::Decision;
use super::delivery::Incoming;
use super::session::Active;
use crate::dead_letters::{Letter, Reason};
use crate::engine::{CommandResult, Effect};
use crate::repo::classify::{is_data_exception, sqlstate};
use crate::repo::{CommitError, WritePlan};
use chrono::{DateTime, Utc};
use protocol::reply::{ErrorCode, Outcome};
use std::ops::Range;

/// Message of the stored `422` of a command whose value PostgreSQL refused.
pub(crate) const UNSTORABLE_VALUE: &str = "a value of this request cannot be stored";
/// Message of the stored `500` of any other command PostgreSQL refused.
pub(crate) const REFUSED: &str = "the request could not be processed";

/// What isolation decided: an outcome per delivery (`None` for probes, malformed
/// deliveries and dead letters), and the deliveries to dead-letter (by index).
pub(super) struct Isolated {
    pub(super) decisions: Vec<Option<Decision>>,
    pub(super) dead: Vec<(usize, Letter)>,
}

impl Active {
    /// Decides and commits `incoming` at `now` in parts, isolating the commands
    /// PostgreSQL refuses. `known_bad`: the whole batch was just refused, so it is split
    /// at once. On success the committed effects (and the stored error outcomes) are in
    /// `self.effects`, as after a whole-batch commit.
    ///
    /// # Errors
    /// [`CommitError::Fenced`], or [`CommitError::Transient`] (PostgreSQL failed in the
    /// middle: some parts may be committed; the caller retries after a backoff).
    pub(super) async fn isolate(
        &mut self,
        incoming: &mut [Incoming],
        now: DateTime<Utc>,
        known_bad: bool,
    ) -> Result<Isolated, CommitError> {
        if !known_bad {
            // A try after a transient failure: earlier parts may have committed, so every
            // command is looked up in the stored results before it is decided. (Right
            // after a refusal nothing of the batch is committed: a refused transaction
            // is rolled back, and one that went through before it would have been found
            // by the lookup of the attempt that was refused.)
            for inc in incoming.iter_mut() {
                if let Incoming::Command { redelivered, .. } = inc {
                    *redelivered = true;
                }
            }
        }
        // Deciding no delivery after a failure rebuilds the engine from PostgreSQL. The
        // rebuilt engine has no watermark: expiry resumes at the next probe of the batch
        // (or the next batch), so no expiry is decided here.
        self.decide_once(&[], now, true)
            .await
            .map_err(CommitError::while_reading)?;
        self.effects.clear();
        let mut committed = Vec::new();

        let mut isolated = Isolated {
            decisions: (0..incoming.len()).map(|_| None).collect(),
            dead: Vec::new(),
        };
        let all = 0..incoming.len();
        // Parts still to commit, the next one last.
        let mut todo: Vec<Range<usize>> = Vec::new();
        if known_bad && all.len() > 1 {
            push_halves(&mut todo, all);
        } else {
            todo.push(all);
        }
        while let Some(part) = todo.pop() {
            let before = self.engine.clone();
            let (outcomes, _) = self
                .decide_once(&incoming[part.clone()], now, false)
                .await
                .map_err(CommitError::while_reading)?;
            match self.commit_part(now).await {
                Ok(()) => {
                    for (i, d) in part.zip(outcomes) {
                        isolated.decisions[i] = d;
                    }
                    committed.append(&mut self.effects);
                }
                Err(CommitError::Permanent(e))
                    if part.len() == 1
                        && matches!(incoming[part.start], Incoming::Probe { .. }) =>
                {
                    // Only the expiries of a probe's watermark: see the module doc.
                    self.ctx.metrics.expiries_unwritten.inc();
                    tracing::error!(
                        error = %e,
                        sqlstate = sqlstate(&e),
                        holds = self.effects.len(),
                        "PostgreSQL refused hold expiries; they stay ended in memory only"
                    );
                    self.effects.clear();
                }
                Err(CommitError::Permanent(e)) => {
                    let mut before = before;
                    before.continue_versions_of(&self.engine);
                    self.engine = before;
                    self.effects.clear();
                    if part.len() > 1 {
                        push_halves(&mut todo, part);
                    } else {
                        let result = self.poison(&incoming[part.start], e, now).await?;
                        match result {
                            Poisoned::Stored(effect, decision) => {
                                committed.push(effect);
                                isolated.decisions[part.start] = Some(decision);
                            }
                            Poisoned::Dead(letter) => isolated.dead.push((part.start, letter)),
                        }
                    }
                }
                Err(other) => return Err(other),
            }
        }
        self.effects = committed;
        Ok(isolated)
    }

    /// Commits `self.effects` (if they write anything) in one fenced transaction.
    async fn commit_part(&self, now: DateTime<Utc>) -> Result<(), CommitError> {
        let plan = WritePlan::new(&self.effects, now);
        if plan.is_empty() {
            return Ok(());
        }
        let timer = self.ctx.metrics.commit_seconds.start_timer();
        self.ctx.repo.commit(self.shard, self.epoch, &plan).await?;
        timer.observe_duration();
        Ok(())
    }

    /// Gives `incoming`, which PostgreSQL refused alone with `error`, its error outcome
    /// and stores it; or makes it a dead letter if that is refused too.
    async fn poison(
        &mut self,
        incoming: &Incoming,
        error: sqlx::Error,
        now: DateTime<Utc>,
    ) -> Result<Poisoned, CommitError> {
        let code = sqlstate(&error);
        let described = format!("SQLSTATE {}: {error}", code.as_deref().unwrap_or("none"));
        let poison = &self.ctx.metrics.poison_commands;
        let Some(env) = incoming.envelope() else {
            tracing::error!(error = %described, "PostgreSQL refused a delivery that is no command");
            poison.with_label_values(&["dead_lettered"]).inc();
            return Ok(Poisoned::Dead(self.letter(described)));
        };
        let (outcome, label) = if is_data_exception(&error) {
            (
                Outcome::rejected(ErrorCode::InvalidField, UNSTORABLE_VALUE),
                "invalid_field",
            )
        } else {
            (Outcome::rejected(ErrorCode::Internal, REFUSED), "internal")
        };
        tracing::error!(
            request_id = %env.request_id,
            event_id = %env.event_id,
            kind = env.command.kind(),
            sqlstate = code,
            error = %error,
            outcome = label,
            "PostgreSQL refused a command; it is answered alone with an error"
        );
        let result = Effect::Result(Box::new(CommandResult::of(env, None, outcome.clone())));
        self.effects.clear();
        self.effects.push(result);
        let stored = self.commit_part(now).await;
        let result = self.effects.pop().expect("the result just pushed");
        match stored {
            Ok(()) => {
                poison.with_label_values(&[label]).inc();
                Ok(Poisoned::Stored(
                    result,
                    Decision {
                        outcome,
                        replayed: false,
                    },
                ))
            }
            Err(CommitError::Permanent(e)) => {
                tracing::error!(
                    request_id = %env.request_id,
                    error = %e,
                    "PostgreSQL refused the error outcome too; dead-lettering the command"
                );
                poison.with_label_values(&["dead_lettered"]).inc();
                Ok(Poisoned::Dead(self.letter(described)))
            }
            Err(other) => Err(other),
        }
    }

    fn letter(&self, error: String) -> Letter {
        Letter {
            reason: Reason::Unstorable,
            shard: self.shard,
            error,
        }
    }
}

/// What became of a command PostgreSQL refused alone.
// One per isolated command, moved once: boxing the large variant would only allocate.
#[allow(clippy::large_enum_variant)]
enum Poisoned {
    /// Its error outcome is stored: the result effect (for the Redis mirror) and the
    /// decision to reply with.
    Stored(Effect, Decision),
    /// It goes to the dead-letter queue.
    Dead(Letter),
}

/// Pushes the two halves of `range` so that the left one is taken first.
fn push_halves(todo: &mut Vec<Range<usize>>, range: Range<usize>) {
    let mid = range.start + range.len() / 2;
    todo.push(mid..range.end);
    todo.push(range.start..mid);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains `todo` the way `isolate` does, failing every part that holds `bad`.
    fn parts_tried(n: usize, bad: usize) -> (Vec<Range<usize>>, usize) {
        let mut todo = Vec::new();
        push_halves(&mut todo, 0..n);
        let (mut tried, mut isolated) = (Vec::new(), None);
        while let Some(part) = todo.pop() {
            tried.push(part.clone());
            if part.contains(&bad) {
                if part.len() > 1 {
                    push_halves(&mut todo, part);
                } else {
                    isolated = Some(part.start);
                }
            }
        }
        (tried, isolated.unwrap())
    }

    #[test]
    fn bisection_commits_every_other_command_once_in_order() {
        for n in [2, 3, 7, 256] {
            for bad in 0..n {
                let (tried, isolated) = parts_tried(n, bad);
                assert_eq!(isolated, bad);
                let committed: Vec<usize> = tried
                    .iter()
                    .filter(|p| !p.contains(&bad))
                    .flat_map(|p| p.clone())
                    .collect();
                let expected: Vec<usize> = (0..n).filter(|&i| i != bad).collect();
                assert_eq!(committed, expected, "n = {n}, bad = {bad}");
                assert!(
                    tried.len() <= 2 * (n.ilog2() as usize + 1),
                    "{}",
                    tried.len()
                );
            }
        }
    }
}

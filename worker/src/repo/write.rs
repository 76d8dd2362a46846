//! Group commit: one batch's [`WritePlan`] in one transaction, fenced by epoch.
//!
//! Statement order matters (see `plan.rs`): fence check, events, cancelled orders,
//! freed claims, sold claims, pre-existing hold states, new holds, new claims, orders and
//! order seats, results. Every statement is a bulk `UNNEST`; empty parts are skipped.
//! The webhook outbox (`crate::webhooks::outbox`) is written in the same transaction,
//! between the new events and the updated ones.
//!
//! The fence check is an update of the shard's `shard_epochs` row that writes the
//! transaction's token, so the row's lock orders the shard's commits. A transaction
//! started while its predecessor still commits (`Link::after`, see `shard/pipeline.rs`)
//! writes its rows first and takes the fence last: it waits there for the predecessor
//! and commits only if it finds that one's token, then writes the outbox, whose
//! per-event sequence it must read as the predecessor left it. Its batch changes no
//! event and touches no row the predecessor inserted (rows a concurrent transaction
//! cannot see), which the caller checks.

use super::plan::{hold_state_str, Claims, WritePlan};
use super::Repository;
use protocol::event::{AdminState, EventConfig};
use sqlx::{Postgres, Transaction};
use tokio::sync::oneshot;
use tracing::instrument;
use uuid::Uuid;

/// Why a batch did not commit. Built from a `sqlx::Error` by
/// [`super::classify::is_transient`]: whether retrying the same batch can help.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another worker took the shard over (its epoch is `current`): this session must
    /// stop writing, drop its state and give the deliveries back.
    #[error("fenced: shard epoch is now {current:?}, not ours")]
    Fenced {
        /// The epoch found.
        current: Option<i64>,
    },
    /// The transaction was linked after another one (`Link::after`) that did not
    /// commit: nothing is written, and the batch is decided again after its predecessor.
    #[error("the group commit before this one did not commit")]
    Unordered,
    /// PostgreSQL is unreachable, shutting down, or the transaction lost a race
    /// (serialization failure, deadlock, statement timeout): retry the batch later.
    #[error("database unavailable")]
    Transient(#[source] sqlx::Error),
    /// PostgreSQL refused the data (SQLSTATE class 22 or 23, an encode or decode
    /// error, or another deterministic error): the same batch fails the same way, so it
    /// is split to find the command at fault.
    #[error("database refused the batch")]
    Permanent(#[source] sqlx::Error),
}

impl From<sqlx::Error> for CommitError {
    fn from(e: sqlx::Error) -> Self {
        if super::classify::is_transient(&e) {
            CommitError::Transient(e)
        } else {
            CommitError::Permanent(e)
        }
    }
}

impl CommitError {
    /// The same error, as a failure of a read that precedes the commit (the fencing
    /// check, the rebuild, the lookup of stored results): those reads do not depend on
    /// the commands' data, so splitting the batch cannot help and even a permanent
    /// error is retried with backoff.
    pub(crate) fn while_reading(self) -> Self {
        match self {
            CommitError::Permanent(e) => CommitError::Transient(e),
            other => other,
        }
    }

    /// Whether PostgreSQL refused a value (SQLSTATE class 22, see
    /// [`super::classify::is_data_exception`]).
    pub fn is_data_exception(&self) -> bool {
        match self {
            CommitError::Permanent(e) => super::classify::is_data_exception(e),
            _ => false,
        }
    }
}

/// Text of an admin state in `events.admin_state`.
pub(crate) fn admin_state_str(s: AdminState) -> &'static str {
    match s {
        AdminState::Open => "open",
        AdminState::Paused => "paused",
        AdminState::Closed => "closed",
        AdminState::Archived => "archived",
    }
}

type Tx<'c> = Transaction<'c, Postgres>;

/// A group commit's place in its shard's order of commits.
#[derive(Debug)]
pub struct Link {
    /// Written into `shard_epochs.last_commit` by this transaction.
    pub token: Uuid,
    /// The transaction that must have committed just before this one: its token, and
    /// the signal that it holds the fence (sent once its fence succeeded; dropped if it
    /// never will). `None`: whatever committed before; the transaction fences first.
    pub after: Option<(Uuid, oneshot::Receiver<()>)>,
    /// Signalled once this transaction holds the fence, for the one linked after it.
    pub fenced: Option<oneshot::Sender<()>>,
}

impl Link {
    /// A transaction that commits after whatever committed before it.
    pub fn first() -> Self {
        Self {
            token: Uuid::new_v4(),
            after: None,
            fenced: None,
        }
    }
}

impl Repository {
    /// Writes `plan` for `shard` if `epoch` is still the shard's epoch.
    ///
    /// # Errors
    /// [`CommitError::Fenced`] if the epoch moved on; [`CommitError::Transient`] or
    /// [`CommitError::Permanent`] otherwise (nothing is written in any case).
    pub(crate) async fn commit(
        &self,
        shard: u16,
        epoch: i64,
        plan: &WritePlan<'_>,
    ) -> Result<(), CommitError> {
        self.commit_linked(shard, epoch, plan, Link::first()).await
    }

    /// [`Repository::commit`] in the place `link` gives it: with `link.after`, the
    /// rows are written before the fence, which waits for that transaction and requires
    /// its token (see the module's documentation).
    ///
    /// # Errors
    /// As [`Repository::commit`], and [`CommitError::Unordered`] if `link.after` did not
    /// commit.
    #[instrument(
        name = "commit",
        skip_all,
        fields(shard = shard, epoch = epoch, results = plan.results.len(), linked = link.after.is_some())
    )]
    pub(crate) async fn commit_linked(
        &self,
        shard: u16,
        epoch: i64,
        plan: &WritePlan<'_>,
        link: Link,
    ) -> Result<(), CommitError> {
        let Link {
            token,
            after,
            fenced,
        } = link;
        let mut tx = self.pool().begin().await?;
        let linked = after.is_some();
        if let Some((previous, previous_fenced)) = after {
            write_rows(&mut tx, plan).await?;
            // The predecessor holds the fence (or never will): from here the fence below
            // waits for its end.
            previous_fenced.await.map_err(|_| CommitError::Unordered)?;
            fence(&mut tx, shard, epoch, token, Some(previous)).await?;
        } else {
            fence(&mut tx, shard, epoch, token, None).await?;
        }
        if let Some(f) = fenced {
            f.send(()).ok();
        }
        write_events(&mut tx, shard, plan).await?;
        if !linked {
            write_rows(&mut tx, plan).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Cancelled orders, holds and claims, orders, results.
async fn write_rows(tx: &mut Tx<'_>, plan: &WritePlan<'_>) -> Result<(), sqlx::Error> {
    write_cancels(tx, plan).await?;
    write_holds(tx, plan).await?;
    write_orders(tx, plan).await?;
    write_results(tx, plan).await
}

/// The fence: locks the shard's row (waiting for a transaction that holds it), checks
/// that `epoch` is still the shard's epoch and, with `after`, that `after` is the token
/// of the last commit, then writes `token`; the lock is held to the end of the
/// transaction. Otherwise [`CommitError::Fenced`] or [`CommitError::Unordered`]
/// (dropping the transaction rolls it back). The lock comes first because an `UPDATE`
/// whose condition reads the row skips it, without waiting, when the version it sees
/// does not match.
async fn fence(
    tx: &mut Tx<'_>,
    shard: u16,
    epoch: i64,
    token: Uuid,
    after: Option<Uuid>,
) -> Result<(), CommitError> {
    let row: Option<(i64, Option<Uuid>)> =
        sqlx::query_as("SELECT epoch, last_commit FROM shard_epochs WHERE shard = $1 FOR UPDATE")
            .bind(i32::from(shard))
            .fetch_optional(&mut **tx)
            .await?;
    let current = row.map(|(e, _)| e);
    if current != Some(epoch) {
        return Err(CommitError::Fenced { current });
    }
    if after.is_some() && row.and_then(|(_, last)| last) != after {
        return Err(CommitError::Unordered);
    }
    sqlx::query("UPDATE shard_epochs SET last_commit = $2 WHERE shard = $1")
        .bind(i32::from(shard))
        .bind(token)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// New events, the webhook outbox, then updated events.
async fn write_events(
    tx: &mut Tx<'_>,
    shard: u16,
    plan: &WritePlan<'_>,
) -> Result<(), CommitError> {
    for c in &plan.new_events {
        insert_event(tx, shard, c).await?;
    }
    // Before the updates: the outbox compares admin states with the stored ones.
    crate::webhooks::outbox::write(tx, shard, plan.effects, plan.now).await?;
    for c in &plan.updated_events {
        update_event(tx, c).await?;
    }
    Ok(())
}

async fn insert_event(tx: &mut Tx<'_>, shard: u16, c: &EventConfig) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (id, shard, spec, admin_state, shuffle_seed, shuffle_commitment,
                             version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(c.id.0)
    .bind(i32::from(shard))
    .bind(sqlx::types::Json(&c.spec))
    .bind(admin_state_str(c.admin_state))
    .bind(&c.shuffle_seed)
    .bind(&c.shuffle_commitment)
    .bind(i64::try_from(c.version).unwrap_or(i64::MAX))
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(&mut **tx)
    .await?;
    let n = usize::try_from(c.spec.seating.total_seats()).unwrap_or(0);
    let (mut ids, mut sections, mut rows, mut numbers, mut prices) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (seat, price) in c.spec.seating.seats() {
        ids.push(seat.to_string());
        sections.push(seat.section);
        rows.push(i32::try_from(seat.row).unwrap_or(i32::MAX));
        numbers.push(i32::try_from(seat.number).unwrap_or(i32::MAX));
        prices.push(price);
    }
    sqlx::query(
        "INSERT INTO seats (event_id, seat_id, section, \"row\", number, price_cents)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[])",
    )
    .bind(c.id.0)
    .bind(&ids)
    .bind(&sections)
    .bind(&rows)
    .bind(&numbers)
    .bind(&prices)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn update_event(tx: &mut Tx<'_>, c: &EventConfig) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE events SET spec = $2, admin_state = $3, version = $4, updated_at = $5
         WHERE id = $1",
    )
    .bind(c.id.0)
    .bind(sqlx::types::Json(&c.spec))
    .bind(admin_state_str(c.admin_state))
    .bind(i64::try_from(c.version).unwrap_or(i64::MAX))
    .bind(c.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_holds(tx: &mut Tx<'_>, plan: &WritePlan<'_>) -> Result<(), sqlx::Error> {
    if !plan.claims_freed.is_empty() {
        sqlx::query(
            "DELETE FROM seat_claims c
             USING UNNEST($1::uuid[], $2::text[], $3::uuid[]) AS f(event_id, seat_id, hold_id)
             WHERE c.event_id = f.event_id AND c.seat_id = f.seat_id AND c.hold_id = f.hold_id",
        )
        .bind(&plan.claims_freed.event_ids)
        .bind(&plan.claims_freed.seat_ids)
        .bind(&plan.claims_freed.hold_ids)
        .execute(&mut **tx)
        .await?;
    }
    if !plan.claims_sold.is_empty() {
        sqlx::query(
            "UPDATE seat_claims c SET state = 'sold'
             FROM UNNEST($1::uuid[], $2::text[], $3::uuid[]) AS s(event_id, seat_id, hold_id)
             WHERE c.event_id = s.event_id AND c.seat_id = s.seat_id AND c.hold_id = s.hold_id",
        )
        .bind(&plan.claims_sold.event_ids)
        .bind(&plan.claims_sold.seat_ids)
        .bind(&plan.claims_sold.hold_ids)
        .execute(&mut **tx)
        .await?;
    }
    if !plan.hold_updates.is_empty() {
        let (ids, states): (Vec<Uuid>, Vec<&str>) = plan.hold_updates.iter().copied().unzip();
        sqlx::query(
            "UPDATE holds h SET state = u.state, updated_at = $3
             FROM UNNEST($1::uuid[], $2::text[]) AS u(id, state) WHERE h.id = u.id",
        )
        .bind(&ids)
        .bind(&states)
        .bind(plan.now)
        .execute(&mut **tx)
        .await?;
    }
    let holds = &plan.new_holds;
    if !holds.views.is_empty() {
        let v = &holds.views;
        sqlx::query(
            "INSERT INTO holds (id, event_id, ticket_id, seats, state, total_cents, expires_at,
                                created_at, updated_at, user_ref)
             SELECT id, event_id, ticket_id, string_to_array(seats, ','), state, total_cents,
                    expires_at, $8, $8, user_ref
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                         $6::bigint[], $7::timestamptz[], $9::text[])
                  AS n(id, event_id, ticket_id, seats, state, total_cents, expires_at, user_ref)",
        )
        .bind(v.iter().map(|h| h.hold.id.0).collect::<Vec<_>>())
        .bind(v.iter().map(|h| h.hold.event_id.0).collect::<Vec<_>>())
        .bind(v.iter().map(|h| h.ticket_id.0).collect::<Vec<_>>())
        .bind(v.iter().map(|h| h.hold.seats.join(",")).collect::<Vec<_>>())
        .bind(
            holds
                .states
                .iter()
                .map(|s| hold_state_str(*s))
                .collect::<Vec<_>>(),
        )
        .bind(v.iter().map(|h| h.hold.total_cents).collect::<Vec<_>>())
        .bind(v.iter().map(|h| h.hold.expires_at).collect::<Vec<_>>())
        .bind(plan.now)
        .bind(v.iter().map(|h| h.user_ref.as_deref()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !plan.claims_new.is_empty() {
        insert_claims(tx, &plan.claims_new, plan).await?;
    }
    Ok(())
}

async fn insert_claims(
    tx: &mut Tx<'_>,
    c: &Claims<'_>,
    plan: &WritePlan<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO seat_claims (event_id, seat_id, hold_id, state, claimed_at)
         SELECT event_id, seat_id, hold_id, state, $5
         FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[])
              AS c(event_id, seat_id, hold_id, state)",
    )
    .bind(&c.event_ids)
    .bind(&c.seat_ids)
    .bind(&c.hold_ids)
    .bind(&c.states)
    .bind(plan.now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_orders(tx: &mut Tx<'_>, plan: &WritePlan<'_>) -> Result<(), sqlx::Error> {
    if plan.orders.is_empty() {
        return Ok(());
    }
    let o = &plan.orders;
    sqlx::query(
        "INSERT INTO orders (id, hold_id, event_id, ticket_id, seats, total_cents, payment_ref,
                             confirmed_at, cancelled_at, cancel_reason)
         SELECT id, hold_id, event_id, ticket_id, string_to_array(seats, ','), total_cents,
                payment_ref, confirmed_at, cancelled_at, cancel_reason
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[],
                     $7::text[], $8::timestamptz[], $9::timestamptz[], $10::text[])
              AS o(id, hold_id, event_id, ticket_id, seats, total_cents, payment_ref, confirmed_at,
                   cancelled_at, cancel_reason)",
    )
    .bind(o.iter().map(|x| x.order.id.0).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.order.hold_id.0).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.order.event_id.0).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.hold.ticket_id.0).collect::<Vec<_>>())
    .bind(
        o.iter()
            .map(|x| x.order.seats.join(","))
            .collect::<Vec<_>>(),
    )
    .bind(o.iter().map(|x| x.order.total_cents).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.payment_ref).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.order.confirmed_at).collect::<Vec<_>>())
    .bind(
        o.iter()
            .map(|x| x.cancelled.and_then(|c| c.order.cancelled_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        o.iter()
            .map(|x| x.cancelled.and_then(|c| c.reason))
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    let seats = o
        .iter()
        .filter(|x| x.cancelled.is_none())
        .flat_map(|x| x.order.seats.iter().map(move |s| (x.order, s)));
    let (mut order_ids, mut event_ids, mut seat_ids) = (Vec::new(), Vec::new(), Vec::new());
    for (order, seat) in seats {
        order_ids.push(order.id.0);
        event_ids.push(order.event_id.0);
        seat_ids.push(seat.as_str());
    }
    if order_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_seats (order_id, event_id, seat_id)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[])",
    )
    .bind(&order_ids)
    .bind(&event_ids)
    .bind(&seat_ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Cancels of orders committed earlier: the order row records when and why, its sold
/// seats are deleted (their claims go with the freed ones, in `write_holds`).
async fn write_cancels(tx: &mut Tx<'_>, plan: &WritePlan<'_>) -> Result<(), sqlx::Error> {
    if plan.cancels.is_empty() {
        return Ok(());
    }
    let c = &plan.cancels;
    let ids: Vec<Uuid> = c.iter().map(|x| x.order.id.0).collect();
    sqlx::query(
        "UPDATE orders o SET cancelled_at = c.cancelled_at, cancel_reason = c.reason
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[]) AS c(id, cancelled_at, reason)
         WHERE o.id = c.id",
    )
    .bind(&ids)
    .bind(c.iter().map(|x| x.order.cancelled_at).collect::<Vec<_>>())
    .bind(c.iter().map(|x| x.reason).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM order_seats WHERE order_id = ANY($1)")
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn write_results(tx: &mut Tx<'_>, plan: &WritePlan<'_>) -> Result<(), sqlx::Error> {
    if plan.results.is_empty() {
        return Ok(());
    }
    let r = &plan.results;
    sqlx::query(
        "INSERT INTO request_results (request_id, event_id, ticket_id, kind, idempotency_key,
                                      fingerprint, status, body, created_at)
         SELECT request_id, event_id, ticket_id, kind, idempotency_key, fingerprint, status,
                body::jsonb, $9
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                     $7::int[], $8::text[])
              AS r(request_id, event_id, ticket_id, kind, idempotency_key, fingerprint, status,
                   body)
         ON CONFLICT DO NOTHING",
    )
    .bind(r.iter().map(|x| x.request_id.0).collect::<Vec<_>>())
    .bind(r.iter().map(|x| x.event_id.0).collect::<Vec<_>>())
    .bind(
        r.iter()
            .map(|x| x.ticket_id.map(|t| t.0))
            .collect::<Vec<_>>(),
    )
    .bind(r.iter().map(|x| x.kind).collect::<Vec<_>>())
    .bind(
        r.iter()
            .map(|x| x.idempotency.as_ref().map(|i| i.key.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(
        r.iter()
            .map(|x| x.idempotency.as_ref().map(|i| i.fingerprint.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(
        r.iter()
            .map(|x| i32::from(x.outcome.http_status()))
            .collect::<Vec<_>>(),
    )
    .bind(r.iter().map(|x| x.body.as_str()).collect::<Vec<_>>())
    .bind(plan.now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

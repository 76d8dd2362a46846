//! The oversold audit: counts, straight from the tables, seats given to more than one
//! buyer (`anteroom_seats_oversold`; the same checks as `deploy/verify.sql`).
//!
//! The keys of `seat_claims` and `order_seats` make most double sales impossible; the
//! audit also looks where no key protects: seat lists of live holds and of orders, and
//! an event with more claims than seats. A cancelled order (and its confirmed hold) no
//! longer owns its seats, which may be sold again. One read-only statement, so one snapshot.

use super::Repository;
use std::collections::BTreeMap;
use tracing::instrument;

impl Repository {
    /// Seats oversold in the events of each of `shards`, as a map shard → count (every
    /// shard asked for is present, 0 when clean). A seat counts once per way it is
    /// oversold: claimed twice, sold twice (`order_seats`), in two orders' seat lists,
    /// in two live (`held`/`confirmed`) holds; plus per event the claims beyond the
    /// number of seats.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all, fields(shards = shards.len()))]
    pub async fn oversold_by_shard(
        &self,
        shards: &[u16],
    ) -> Result<BTreeMap<u16, i64>, sqlx::Error> {
        let mut found: BTreeMap<u16, i64> = shards.iter().map(|&s| (s, 0)).collect();
        if shards.is_empty() {
            return Ok(found);
        }
        let ids: Vec<i32> = shards.iter().map(|&s| i32::from(s)).collect();
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT e.shard, (
                 (SELECT count(*) FROM (SELECT 1 FROM seat_claims c WHERE c.event_id = e.id
                                        GROUP BY c.seat_id HAVING count(*) > 1) x)
               + (SELECT count(*) FROM (SELECT 1 FROM order_seats s WHERE s.event_id = e.id
                                        GROUP BY s.seat_id HAVING count(*) > 1) x)
               + (SELECT count(*) FROM (SELECT 1 FROM orders o, unnest(o.seats) AS seat
                                        WHERE o.event_id = e.id AND o.cancelled_at IS NULL
                                        GROUP BY seat HAVING count(*) > 1) x)
               + (SELECT count(*) FROM (SELECT 1 FROM holds h, unnest(h.seats) AS seat
                                        WHERE h.event_id = e.id
                                          AND h.state IN ('held', 'confirmed')
                                          AND NOT EXISTS (
                                              SELECT 1 FROM orders o WHERE o.hold_id = h.id
                                                AND o.cancelled_at IS NOT NULL)
                                        GROUP BY seat HAVING count(*) > 1) x)
               + GREATEST(0, (SELECT count(*) FROM seat_claims c WHERE c.event_id = e.id)
                           - (SELECT count(*) FROM seats s WHERE s.event_id = e.id))
             )::bigint
             FROM events e WHERE e.shard = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        for (shard, oversold) in rows {
            if let Ok(shard) = u16::try_from(shard) {
                *found.entry(shard).or_default() += oversold;
            }
        }
        Ok(found)
    }
}

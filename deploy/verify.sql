-- Direct invariant check of Anteroom's reservation state in PostgreSQL: straight from the
-- tables (migrations/), not from the application's counters.
--
--   psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v event_id=<uuid> -f deploy/verify.sql
--
-- Without `-v event_id=...` every event is checked. Prints one row per check with the
-- number of offending rows, the seat counts, and a last line
--   verify: total=N sold=N held=N available=N oversold=N failed_checks=N
-- then fails (psql exit status 3) when any check found something.
--
-- "Oversold" counts seats that were given to more than one buyer in any way: two claims,
-- two order rows, two orders' seat lists, two live (held or confirmed) holds, or more
-- seats sold than exist.

\set ON_ERROR_STOP 1
\if :{?event_id}
\else
\set event_id ''
\endif

CREATE TEMP TABLE verify_scope AS
SELECT id AS event_id FROM events
WHERE NULLIF(:'event_id', '') IS NULL OR id = NULLIF(:'event_id', '')::uuid;

-- Seat ids of live holds and of orders, one row per (hold or order, seat). A cancelled
-- order (and its confirmed hold) no longer owns its seats: they may be sold again.
CREATE TEMP VIEW verify_hold_seats AS
SELECT h.event_id, h.id AS hold_id, h.state, unnest(h.seats) AS seat_id
FROM holds h JOIN verify_scope USING (event_id)
WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.hold_id = h.id AND o.cancelled_at IS NOT NULL);

CREATE TEMP VIEW verify_order_seats AS
SELECT o.event_id, o.id AS order_id, o.hold_id, unnest(o.seats) AS seat_id
FROM orders o JOIN verify_scope USING (event_id)
WHERE o.cancelled_at IS NULL;

CREATE TEMP TABLE verify_checks (check_name text, kind text, bad bigint);

INSERT INTO verify_checks
-- ---- oversold: one seat, several buyers ----
SELECT 'seat claimed twice (seat_claims)', 'oversold', count(*) FROM (
    SELECT 1 FROM seat_claims c JOIN verify_scope USING (event_id)
    GROUP BY c.event_id, c.seat_id HAVING count(*) > 1) x
UNION ALL
SELECT 'seat sold twice (order_seats)', 'oversold', count(*) FROM (
    SELECT 1 FROM order_seats s JOIN verify_scope USING (event_id)
    GROUP BY s.event_id, s.seat_id HAVING count(*) > 1) x
UNION ALL
SELECT 'seat in two orders (orders.seats)', 'oversold', count(*) FROM (
    SELECT 1 FROM verify_order_seats GROUP BY event_id, seat_id HAVING count(*) > 1) x
UNION ALL
SELECT 'seat in two held/confirmed holds', 'oversold', count(*) FROM (
    SELECT 1 FROM verify_hold_seats WHERE state IN ('held', 'confirmed')
    GROUP BY event_id, seat_id HAVING count(*) > 1) x
UNION ALL
SELECT 'more seats sold than exist', 'oversold', count(*) FROM (
    SELECT e.event_id FROM verify_scope e
    WHERE (SELECT count(*) FROM seat_claims c WHERE c.event_id = e.event_id AND c.state = 'sold')
        > (SELECT count(*) FROM seats s WHERE s.event_id = e.event_id)) x
-- ---- consistency between claims, holds and orders ----
UNION ALL
SELECT 'order seat not claimed sold by its hold', 'invariant', count(*)
FROM verify_order_seats o
LEFT JOIN seat_claims c
    ON c.event_id = o.event_id AND c.seat_id = o.seat_id AND c.state = 'sold' AND c.hold_id = o.hold_id
WHERE c.seat_id IS NULL
UNION ALL
SELECT 'order seats differ from order_seats rows', 'invariant', count(*) FROM (
    (SELECT order_id, seat_id FROM verify_order_seats
     EXCEPT SELECT s.order_id, s.seat_id FROM order_seats s JOIN verify_scope USING (event_id))
    UNION ALL
    (SELECT s.order_id, s.seat_id FROM order_seats s JOIN verify_scope USING (event_id)
     EXCEPT SELECT order_id, seat_id FROM verify_order_seats)) x
UNION ALL
SELECT 'sold claim without an order', 'invariant', count(*)
FROM seat_claims c JOIN verify_scope USING (event_id)
LEFT JOIN order_seats s ON s.event_id = c.event_id AND s.seat_id = c.seat_id
WHERE c.state = 'sold' AND s.seat_id IS NULL
UNION ALL
SELECT 'claim not matching its hold (seat, state)', 'invariant', count(*)
FROM seat_claims c JOIN verify_scope USING (event_id)
LEFT JOIN verify_hold_seats h
    ON h.hold_id = c.hold_id AND h.seat_id = c.seat_id
   AND h.state = CASE c.state WHEN 'held' THEN 'held' ELSE 'confirmed' END
WHERE h.hold_id IS NULL
UNION ALL
SELECT 'held/confirmed hold seat without its claim', 'invariant', count(*)
FROM verify_hold_seats h
LEFT JOIN seat_claims c ON c.event_id = h.event_id AND c.seat_id = h.seat_id AND c.hold_id = h.hold_id
WHERE h.state IN ('held', 'confirmed') AND c.seat_id IS NULL
UNION ALL
SELECT 'confirmed hold without exactly one order', 'invariant', count(*)
FROM holds h JOIN verify_scope USING (event_id)
WHERE h.state = 'confirmed' AND (SELECT count(*) FROM orders o WHERE o.hold_id = h.id) <> 1
UNION ALL
SELECT 'order of a hold not confirmed', 'invariant', count(*)
FROM orders o JOIN verify_scope USING (event_id) JOIN holds h ON h.id = o.hold_id
WHERE h.state <> 'confirmed'
UNION ALL
SELECT 'claim of an unknown seat', 'invariant', count(*)
FROM seat_claims c JOIN verify_scope USING (event_id)
LEFT JOIN seats s ON s.event_id = c.event_id AND s.seat_id = c.seat_id
WHERE s.seat_id IS NULL;

-- Seat counts per event: sold and held from the claims, available = seats without one.
CREATE TEMP TABLE verify_counts AS
SELECT e.event_id,
       count(s.seat_id)                                            AS total,
       count(s.seat_id) FILTER (WHERE c.state = 'sold')            AS sold,
       count(s.seat_id) FILTER (WHERE c.state = 'held')            AS held,
       count(s.seat_id) FILTER (WHERE c.seat_id IS NULL)           AS available,
       (SELECT count(*) FROM orders o WHERE o.event_id = e.event_id) AS orders,
       (SELECT count(*) FROM holds h WHERE h.event_id = e.event_id AND h.state = 'held') AS holds_active
FROM verify_scope e
LEFT JOIN seats s ON s.event_id = e.event_id
LEFT JOIN seat_claims c ON c.event_id = s.event_id AND c.seat_id = s.seat_id
GROUP BY e.event_id;

INSERT INTO verify_checks
SELECT 'sold + held + available <> total', 'invariant', count(*)
FROM verify_counts WHERE sold + held + available <> total
UNION ALL
SELECT 'event to check not found', 'invariant',
       CASE WHEN NULLIF(:'event_id', '') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM verify_scope)
            THEN 1 ELSE 0 END;

\pset footer off
\echo
\echo 'Invariant checks (bad = offending rows; all must be 0):'
SELECT check_name AS "check", kind, bad, CASE WHEN bad = 0 THEN 'ok' ELSE 'FAIL' END AS result
FROM verify_checks;

\echo 'Seats per event (from seat_claims):'
SELECT event_id, total, sold, held, available, orders, holds_active FROM verify_counts ORDER BY event_id;

SELECT coalesce(sum(total), 0) AS total, coalesce(sum(sold), 0) AS sold,
       coalesce(sum(held), 0) AS held, coalesce(sum(available), 0) AS available
FROM verify_counts \gset
SELECT coalesce(sum(bad) FILTER (WHERE kind = 'oversold'), 0) AS oversold,
       count(*) FILTER (WHERE bad > 0) AS failed_checks,
       count(*) FILTER (WHERE bad > 0) > 0 AS failed
FROM verify_checks \gset

\echo verify: total=:total sold=:sold held=:held available=:available oversold=:oversold failed_checks=:failed_checks
\if :failed
DO $$ BEGIN RAISE EXCEPTION 'verify.sql: invariants violated (see the checks above)'; END $$;
\endif

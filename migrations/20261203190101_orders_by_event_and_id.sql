-- no-transaction
-- Order lists and CSV exports page through an event's orders by id (UUIDv7, so in
-- confirmation order). Built CONCURRENTLY, outside a transaction, so group commits keep
-- inserting orders while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_event_id_idx ON orders (event_id, id);

-- The origin API: orders the venue cancels, the fan's user reference on the hold, and
-- the API keys of the venue's servers.

-- A cancelled order keeps its row (the venue's books need it) with when and why; its
-- order_seats and seat_claims rows are deleted in the same group commit, so the seats
-- can be sold again.
ALTER TABLE orders ADD COLUMN cancelled_at timestamptz;
ALTER TABLE orders ADD COLUMN cancel_reason text;

-- The user reference of a signed join, carried by the pass into the hold command, so
-- the venue's server can tell whose hold it is charging. NULL for anonymous joins.
ALTER TABLE holds ADD COLUMN user_ref text;

-- API keys of the venue's servers, written by the gateway's back office (no shard owns
-- them). Only the SHA-256 of the secret is kept; `prefix` is the public part of the key
-- (`ak_<prefix>_<secret>`) that finds the row. `events` NULL means every event. The
-- `Idempotency-Key` of the create (with its request's fingerprint) makes a retried
-- create answer the same key instead of making a second one.
CREATE TABLE api_keys (
    id              uuid        PRIMARY KEY,
    name            text        NOT NULL,
    prefix          text        NOT NULL UNIQUE,
    secret_sha256   bytea       NOT NULL CHECK (length(secret_sha256) = 32),
    events          uuid[],
    idempotency_key text        UNIQUE,
    fingerprint     text,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);

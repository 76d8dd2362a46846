-- Webhooks (docs/WEBHOOKS.md): endpoints the venue registers, the outbox the group
-- commit writes in the same transaction as the decisions, one delivery row per message
-- and endpoint, and redelivery requests.
--
-- Who writes what: the gateway's back office writes endpoints and redelivery requests
-- (rows no shard owns); the shard's worker writes sequences, outbox rows and deliveries.
-- No foreign keys on the rows the group commit inserts (see the hot-path migration):
-- the worker writes outbox and delivery rows together, and deleted endpoints are kept
-- (deleted_at) so their delivery history stays readable.

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    -- NULL: every event.
    event_id uuid,
    -- NULL: every type.
    types text[],
    -- whsec_ followed by the base64 of the key.
    secret text NOT NULL,
    -- The secret before the last rotation, still signed with until previous_until.
    previous_secret text,
    previous_until timestamptz,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    -- The Idempotency-Key of the create (with the request's fingerprint) and of the
    -- last rotation, so a retried request gets the first answer again.
    creation_key text UNIQUE,
    creation_fingerprint text,
    rotation_key text
);

-- Per event: the last sequence number given to an outbox row, and what the outbox
-- needs to know across batches (seats sold, to announce the sale of the last one; the
-- admin state, to announce a change of it).
CREATE TABLE webhook_sequences (
    event_id uuid PRIMARY KEY,
    last_seq bigint NOT NULL,
    seats_total bigint NOT NULL,
    seats_sold bigint NOT NULL,
    admin_state text NOT NULL
);

CREATE TABLE webhook_outbox (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL,
    shard int NOT NULL,
    seq bigint NOT NULL,
    type text NOT NULL,
    -- What the message is about (a hold, an order, an event version): one message per
    -- decision and type.
    subject text NOT NULL,
    -- The exact JSON body that is signed and sent.
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (event_id, seq),
    UNIQUE (type, subject)
);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    endpoint_id uuid NOT NULL,
    message_id uuid NOT NULL,
    event_id uuid NOT NULL,
    shard int NOT NULL,
    seq bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- Set while a worker is sending it, so two owners (during a takeover) do not send
    -- the same delivery at once; a crashed sender's lease runs out.
    leased_until timestamptz,
    last_status int,
    last_error text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (endpoint_id, message_id)
);

-- The delivery runner's scan: the first pending delivery of each (endpoint, event).
CREATE INDEX webhook_deliveries_pending_idx
    ON webhook_deliveries (shard, endpoint_id, event_id, seq) WHERE state = 'pending';
-- The console's list of an endpoint's deliveries, newest first.
CREATE INDEX webhook_deliveries_endpoint_idx
    ON webhook_deliveries (endpoint_id, created_at, id);

CREATE TABLE webhook_redeliveries (
    id uuid PRIMARY KEY,
    delivery_id uuid NOT NULL,
    requested_at timestamptz NOT NULL
);

-- Retention (worker/src/webhooks/prune.rs): finished deliveries by age, then messages
-- by age once no delivery refers to them.
CREATE INDEX webhook_deliveries_finished_idx
    ON webhook_deliveries (updated_at) WHERE state <> 'pending';
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (message_id);
CREATE INDEX webhook_outbox_created_idx ON webhook_outbox (created_at);

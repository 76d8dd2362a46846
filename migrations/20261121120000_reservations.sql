-- Anteroom reservation schema (issue #2). Written only by the worker: one writer per
-- event (its shard's active consumer), batched in group commits. Never edit once landed;
-- add a new migration instead.

-- Events: the spec as created with patches applied, the venue's switch and the
-- pre-queue shuffle commitment. `shard` = protocol::shard_of(id, SHARDS) at creation;
-- a shard's new owner rebuilds its events from the rows with its number.
CREATE TABLE events (
    id                 uuid        PRIMARY KEY,
    shard              integer     NOT NULL CHECK (shard >= 0),
    spec               jsonb       NOT NULL,
    admin_state        text        NOT NULL CHECK (admin_state IN ('open', 'paused', 'closed')),
    shuffle_seed       text,
    shuffle_commitment text,
    version            bigint      NOT NULL CHECK (version >= 1),
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX events_shard_idx ON events (shard);

-- Every seat of every event, inserted at creation (one INSERT ... UNNEST, up to 200k).
CREATE TABLE seats (
    event_id    uuid    NOT NULL REFERENCES events (id),
    seat_id     text    NOT NULL,
    section     text    NOT NULL,
    "row"       integer NOT NULL CHECK ("row" >= 1),
    number      integer NOT NULL CHECK (number >= 1),
    price_cents bigint  NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (event_id, seat_id)
);

-- Holds in every state; `seats` in the order asked for (or chosen).
CREATE TABLE holds (
    id          uuid        PRIMARY KEY,
    event_id    uuid        NOT NULL REFERENCES events (id),
    ticket_id   uuid        NOT NULL,
    seats       text[]      NOT NULL,
    state       text        NOT NULL CHECK (state IN ('held', 'confirmed', 'released', 'expired')),
    total_cents bigint      NOT NULL CHECK (total_cents >= 0),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX holds_event_idx ON holds (event_id, updated_at);

-- The second line of defence: one row per claimed seat, keyed by the seat, so the
-- database itself refuses a second claim even if a bug got past the single writer.
-- A row exists while the seat is held (state 'held') or sold ('sold').
CREATE TABLE seat_claims (
    event_id   uuid        NOT NULL,
    seat_id    text        NOT NULL,
    hold_id    uuid        NOT NULL REFERENCES holds (id),
    state      text        NOT NULL CHECK (state IN ('held', 'sold')),
    claimed_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, seat_id),
    FOREIGN KEY (event_id, seat_id) REFERENCES seats (event_id, seat_id)
);

CREATE TABLE orders (
    id           uuid        PRIMARY KEY,
    hold_id      uuid        NOT NULL UNIQUE REFERENCES holds (id),
    event_id     uuid        NOT NULL REFERENCES events (id),
    ticket_id    uuid        NOT NULL,
    seats        text[]      NOT NULL,
    total_cents  bigint      NOT NULL CHECK (total_cents >= 0),
    payment_ref  text        NOT NULL,
    confirmed_at timestamptz NOT NULL
);
CREATE INDEX orders_event_idx ON orders (event_id, ticket_id);

-- Sold seats, one row per seat: the key (event_id, seat_id) means a seat can never be
-- sold twice, even across orders.
CREATE TABLE order_seats (
    order_id uuid NOT NULL REFERENCES orders (id),
    event_id uuid NOT NULL,
    seat_id  text NOT NULL,
    PRIMARY KEY (event_id, seat_id),
    FOREIGN KEY (event_id, seat_id) REFERENCES seats (event_id, seat_id)
);
CREATE INDEX order_seats_order_idx ON order_seats (order_id);

-- The decided result of every command: replays (redelivered commands) are answered from
-- here, and the idempotency key of a request is owned by the first request that used it.
-- `status`/`body` are the HTTP answer (protocol Outcome::http_status / http_body).
CREATE TABLE request_results (
    request_id      uuid        PRIMARY KEY,
    event_id        uuid        NOT NULL,
    ticket_id       uuid,
    kind            text        NOT NULL,
    idempotency_key text,
    fingerprint     text,
    status          integer     NOT NULL,
    body            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    CHECK ((idempotency_key IS NULL) = (fingerprint IS NULL))
);
CREATE UNIQUE INDEX request_results_idempotency_idx
    ON request_results (event_id, ticket_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Fencing: taking over a shard bumps its epoch; every batch transaction checks it, so a
-- stalled former owner cannot write after a failover.
CREATE TABLE shard_epochs (
    shard    integer     PRIMARY KEY CHECK (shard >= 0),
    epoch    bigint      NOT NULL CHECK (epoch >= 1),
    owner    text        NOT NULL,
    taken_at timestamptz NOT NULL
);

-- Read-only convenience for operators and tests: each seat with its status
-- ('available', 'held' or 'sold'), derived from the claims (the truth).
CREATE VIEW seat_statuses AS
SELECT s.event_id, s.seat_id, s.section, s."row", s.number, s.price_cents,
       COALESCE(c.state, 'available') AS status, c.hold_id
FROM seats s
LEFT JOIN seat_claims c ON c.event_id = s.event_id AND c.seat_id = s.seat_id;

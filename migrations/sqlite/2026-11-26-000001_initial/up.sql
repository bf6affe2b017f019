-- The whole data model of DESIGN.md. SQLite twin of migrations/postgres/…_initial.
-- Timestamps are UTC; ids are 64-bit (INTEGER PRIMARY KEY is SQLite's 64-bit rowid).

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX customers_name ON customers (name);

-- An identity (identification header value or authenticated outgoing user) names one customer.
CREATE TABLE customer_identities (
    id          INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    identity    TEXT NOT NULL UNIQUE
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

CREATE TABLE customer_domains (
    id          INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    domain      TEXT NOT NULL UNIQUE
);
CREATE INDEX customer_domains_customer ON customer_domains (customer_id);

-- Ranges are stored as 16-byte big-endian bounds (IPv4 as ::ffff:a.b.c.d) so that one
-- byte-wise comparison finds the blocks holding an address on both backends.
CREATE TABLE customer_netblocks (
    id          INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    cidr        TEXT NOT NULL UNIQUE,
    family      INTEGER NOT NULL,
    prefix_len  INTEGER NOT NULL,
    range_start BLOB NOT NULL,
    range_end   BLOB NOT NULL
);
CREATE INDEX customer_netblocks_lookup ON customer_netblocks (family, prefix_len, range_start);
CREATE INDEX customer_netblocks_customer ON customer_netblocks (customer_id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);

-- Only a hash of each token is kept; the token itself is shown once when created.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP
);

-- Every inbound message, stored before it is parsed. parse_status: pending | report | quarantined.
CREATE TABLE raw_messages (
    id               INTEGER PRIMARY KEY,
    sha256           TEXT NOT NULL UNIQUE,
    compression      TEXT NOT NULL,
    content          BLOB NOT NULL,
    size_bytes       BIGINT NOT NULL,
    source           TEXT NOT NULL,
    mailbox          TEXT,
    received_at      TIMESTAMP NOT NULL,
    parse_status     TEXT NOT NULL,
    parse_error_kind TEXT,
    parse_error      TEXT,
    processed_at     TIMESTAMP
);
CREATE INDEX raw_messages_status ON raw_messages (parse_status, id);

-- open_key is "customer|subject|class" while the ticket is open, resolved or
-- ignored, and NULL once closed or merged: the unique index keeps one live ticket per key
-- (NULLs never collide), including for tickets without a customer.
CREATE TABLE tickets (
    id                    INTEGER PRIMARY KEY,
    customer_id           BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    subject_kind          TEXT NOT NULL CHECK (subject_kind IN ('identity', 'sender', 'ip')),
    subject               TEXT NOT NULL,
    class                 TEXT NOT NULL,
    severity              TEXT NOT NULL CHECK (severity IN ('info', 'abuse', 'escalation')),
    status                TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'ignored', 'closed', 'merged')),
    open_key              TEXT UNIQUE,
    assignee_id           BIGINT REFERENCES users (id) ON DELETE SET NULL,
    merged_into_id        BIGINT REFERENCES tickets (id),
    event_count           BIGINT NOT NULL DEFAULT 0,
    incident_count        BIGINT NOT NULL DEFAULT 0,
    source_ip_count       BIGINT NOT NULL DEFAULT 0,
    first_seen            TIMESTAMP NOT NULL,
    last_seen             TIMESTAMP NOT NULL,
    last_source_ip        TEXT,
    last_original_subject TEXT,
    identity              TEXT,
    outgoing_user         TEXT,
    outgoing_domain       TEXT,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE INDEX tickets_queue ON tickets (status, last_seen, id);
CREATE INDEX tickets_customer ON tickets (customer_id, last_seen);
CREATE INDEX tickets_assignee ON tickets (assignee_id, last_seen);

-- The distinct source IPs of each ticket (per-IP counts come from events).
CREATE TABLE ticket_source_ips (
    id          INTEGER PRIMARY KEY,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    source_ip   TEXT NOT NULL,
    UNIQUE (ticket_id, source_ip)
);

-- One complaint. dedup_key is derived from reporter, feedback type, original Message-ID or
-- envelope id, source IP and arrival time: the same complaint delivered twice is one event.
CREATE TABLE events (
    id                   INTEGER PRIMARY KEY,
    raw_message_id       BIGINT NOT NULL REFERENCES raw_messages (id),
    ticket_id            BIGINT NOT NULL REFERENCES tickets (id),
    customer_id          BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    dedup_key            TEXT NOT NULL UNIQUE,
    reporter             TEXT NOT NULL,
    feedback_type        TEXT NOT NULL,
    source_ip            TEXT,
    original_mail_from   TEXT,
    original_message_id  TEXT,
    original_envelope_id TEXT,
    original_subject     TEXT,
    identity             TEXT,
    arrival_at           TIMESTAMP NOT NULL,
    created_at           TIMESTAMP NOT NULL
);
CREATE INDEX events_ticket ON events (ticket_id, arrival_at);
CREATE INDEX events_arrival ON events (arrival_at);

CREATE TABLE notes (
    id         INTEGER PRIMARY KEY,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX notes_ticket ON notes (ticket_id, created_at);

-- An upstream action is a row first. state: pending | running | succeeded | failed | cancelled.
CREATE TABLE actions (
    id              INTEGER PRIMARY KEY,
    ticket_id       BIGINT REFERENCES tickets (id) ON DELETE SET NULL,
    customer_id     BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    upstream        TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    expires_at      TIMESTAMP,
    idempotency_key TEXT NOT NULL UNIQUE,
    requested_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    completed_at    TIMESTAMP
);
CREATE INDEX actions_due ON actions (state, next_attempt_at);
CREATE INDEX actions_expiry ON actions (expires_at);
CREATE INDEX actions_ticket ON actions (ticket_id);

-- state: pending | sending | sent | failed | suppressed.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    customer_id     BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    ticket_id       BIGINT REFERENCES tickets (id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    sent_at         TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_customer ON notifications (customer_id, created_at);

-- Self-service links: only the hash of the random token is stored.
CREATE TABLE customer_tokens (
    id          INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    ticket_id   BIGINT REFERENCES tickets (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    actor_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    ticket_id   BIGINT REFERENCES tickets (id) ON DELETE SET NULL,
    customer_id BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_log_ticket ON audit_log (ticket_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE mailbox_state (
    id           INTEGER PRIMARY KEY,
    mailbox      TEXT NOT NULL UNIQUE,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    last_poll_at TIMESTAMP,
    last_error   TEXT,
    updated_at   TIMESTAMP NOT NULL
);

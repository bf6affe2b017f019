-- Acting upstream (see the Postgres twin for what each change is for). SQLite cannot change a
-- CHECK constraint in place: the actions table is rebuilt with the new state and columns.
CREATE TABLE actions_new (
    id              INTEGER PRIMARY KEY,
    ticket_id       BIGINT REFERENCES tickets (id) ON DELETE SET NULL,
    customer_id     BIGINT REFERENCES customers (id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'manual')),
    upstream        TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    expires_at      TIMESTAMP,
    idempotency_key TEXT NOT NULL UNIQUE,
    requested_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    completed_at    TIMESTAMP,
    target_domain   TEXT,
    target_user     TEXT,
    claimed_at      TIMESTAMP,
    claimed_by      TEXT,
    outcome         TEXT,
    lifted_by       BIGINT REFERENCES actions_new (id) ON DELETE SET NULL
);
INSERT INTO actions_new (id, ticket_id, customer_id, kind, target, reason, state, upstream,
    attempts, next_attempt_at, expires_at, idempotency_key, requested_by, last_error,
    created_at, updated_at, completed_at)
SELECT id, ticket_id, customer_id, kind, target, reason, state, upstream, attempts,
    next_attempt_at, expires_at, idempotency_key, requested_by, last_error, created_at,
    updated_at, completed_at
FROM actions;
DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;
CREATE INDEX actions_due ON actions (state, next_attempt_at);
CREATE INDEX actions_expiry ON actions (expires_at);
CREATE INDEX actions_ticket ON actions (ticket_id);
CREATE INDEX actions_target ON actions (target, id);
CREATE INDEX actions_running ON actions (state, claimed_at);

CREATE TABLE action_attempts (
    id          INTEGER PRIMARY KEY,
    action_id   BIGINT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    upstream    TEXT NOT NULL,
    at          TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    http_status INTEGER,
    outcome     TEXT NOT NULL CHECK (outcome IN ('succeeded', 'retry', 'failed', 'checked')),
    message     TEXT NOT NULL
);
CREATE INDEX action_attempts_action ON action_attempts (action_id, id);

-- What an account is upstream: the billing panel's service id and the hosting account's user.
ALTER TABLE customers ADD COLUMN billing_ref TEXT;
ALTER TABLE customers ADD COLUMN hosting_user TEXT;
-- Whether the customer is told about its tickets, and in which language.
ALTER TABLE customers ADD COLUMN notify BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE customers ADD COLUMN language TEXT;

ALTER TABLE customers DROP COLUMN language;
ALTER TABLE customers DROP COLUMN notify;
ALTER TABLE customers DROP COLUMN hosting_user;
ALTER TABLE customers DROP COLUMN billing_ref;
DROP TABLE action_attempts;
CREATE TABLE actions_old (
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
INSERT INTO actions_old (id, ticket_id, customer_id, kind, target, reason, state, upstream,
    attempts, next_attempt_at, expires_at, idempotency_key, requested_by, last_error,
    created_at, updated_at, completed_at)
SELECT id, ticket_id, customer_id, kind, target, reason,
    CASE WHEN state = 'manual' THEN 'cancelled' ELSE state END, upstream, attempts,
    next_attempt_at, expires_at, idempotency_key, requested_by, last_error, created_at,
    updated_at, completed_at
FROM actions;
DROP TABLE actions;
ALTER TABLE actions_old RENAME TO actions;
CREATE INDEX actions_due ON actions (state, next_attempt_at);
CREATE INDEX actions_expiry ON actions (expires_at);
CREATE INDEX actions_ticket ON actions (ticket_id);
CREATE INDEX actions_target ON actions (target, id);

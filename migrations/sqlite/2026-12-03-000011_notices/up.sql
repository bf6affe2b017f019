-- Customer notices: one notice (a digest mail) per customer and planning run, the tickets it
-- told about with their counts then (so the next one knows what is news), and one
-- notifications row per recipient address (its own SMTP transaction, retried on its own).
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    message_id   TEXT NOT NULL UNIQUE,
    requested_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX notices_customer ON notices (customer_id, id);

CREATE TABLE notice_tickets (
    id          INTEGER PRIMARY KEY,
    notice_id   BIGINT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    event_count BIGINT NOT NULL,
    new_events  BIGINT NOT NULL,
    severity    TEXT NOT NULL,
    why         TEXT NOT NULL CHECK (why IN ('new_ticket', 'new_reports', 'severity_rose')),
    UNIQUE (notice_id, ticket_id)
);
CREATE INDEX notice_tickets_ticket ON notice_tickets (ticket_id, notice_id);

-- Without REFERENCES here: SQLite cannot drop a column a foreign key names (the down
-- migration drops it); the rows go with their notice through the code that deletes notices.
ALTER TABLE notifications ADD COLUMN notice_id BIGINT;
ALTER TABLE notifications ADD COLUMN claimed_at TIMESTAMP;
CREATE INDEX notifications_notice ON notifications (notice_id);

-- What customers say on their self-service page: replies (notes by the customer) and "fixed".
ALTER TABLE tickets ADD COLUMN customer_replied_at TIMESTAMP;
ALTER TABLE tickets ADD COLUMN customer_status TEXT;
CREATE INDEX tickets_replied ON tickets (customer_replied_at) WHERE customer_replied_at IS NOT NULL;
ALTER TABLE notes ADD COLUMN by_customer BOOLEAN NOT NULL DEFAULT FALSE;

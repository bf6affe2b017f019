-- Who polls a mailbox right now (SQLite; Postgres uses an advisory lock), and until when
-- the claim holds if that poller dies without releasing it.
ALTER TABLE mailbox_state ADD COLUMN lease_owner TEXT;
ALTER TABLE mailbox_state ADD COLUMN lease_until TIMESTAMP;

DROP INDEX tickets_queue;
CREATE INDEX tickets_queue ON tickets (status, last_seen, id);
DROP INDEX tickets_by_last_seen;
CREATE INDEX tickets_by_last_seen ON tickets (last_seen, id);

-- Indexes the web queue pages by: every sort order of the queue walks an index in order, with
-- or without a status filter, so a page is found by keyset without sorting the whole table.
CREATE INDEX tickets_by_last_seen ON tickets (last_seen, id);
CREATE INDEX tickets_by_events ON tickets (event_count, id);
CREATE INDEX tickets_status_events ON tickets (status, event_count, id);
CREATE INDEX tickets_by_first_seen ON tickets (first_seen, id);
CREATE INDEX tickets_status_first_seen ON tickets (status, first_seen, id);
-- The lock state of a queue row or an outgoing-report row is the latest lock action on its
-- identity or outgoing user.
CREATE INDEX actions_target ON actions (target, id);

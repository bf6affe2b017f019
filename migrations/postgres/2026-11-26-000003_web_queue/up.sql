-- Indexes the web queue pages by: every sort order of the queue walks an index in order, with
-- or without a status filter, so a page is found by keyset without sorting the whole table.
CREATE INDEX tickets_by_last_seen ON tickets (last_seen, id);
CREATE INDEX tickets_by_events ON tickets (event_count, id);
CREATE INDEX tickets_status_events ON tickets (status, event_count, id);
CREATE INDEX tickets_by_first_seen ON tickets (first_seen, id);
CREATE INDEX tickets_status_first_seen ON tickets (status, first_seen, id);
-- Filtering by class (fraud, virus, …: a few per cent of tickets), in last-seen order so a
-- page is found by walking the index whatever the status filter.
CREATE INDEX tickets_class_queue ON tickets (class, last_seen, id);
-- The lock state of a queue row or an outgoing-report row is the latest lock action on its
-- identity or outgoing user.
CREATE INDEX actions_target ON actions (target, id);
-- Free-text search of the queue ("contains", any case) over subject, identity, source IP and
-- outgoing user: a trigram GIN index over the lower-cased text, so LIKE '%…%' is an index
-- lookup instead of a scan of every ticket. pg_trgm ships with Postgres and is a trusted
-- extension (a database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tickets_search ON tickets USING gin (
    (lower(subject || ' ' || coalesce(identity, '') || ' ' || coalesce(last_source_ip, '') || ' ' || coalesce(outgoing_user, ''))) gin_trgm_ops
);

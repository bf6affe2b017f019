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
-- outgoing user: an FTS5 trigram index kept in step with tickets by triggers, so a search is
-- an index lookup instead of a scan of every ticket. Updates that leave the searched columns
-- as they were (most event batches) do not touch it.
CREATE VIRTUAL TABLE tickets_search USING fts5(
    subject, identity, last_source_ip, outgoing_user,
    content = 'tickets', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO tickets_search (tickets_search) VALUES ('rebuild');
CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_search (rowid, subject, identity, last_source_ip, outgoing_user)
    VALUES (new.id, new.subject, new.identity, new.last_source_ip, new.outgoing_user);
END;
CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO tickets_search (tickets_search, rowid, subject, identity, last_source_ip, outgoing_user)
    VALUES ('delete', old.id, old.subject, old.identity, old.last_source_ip, old.outgoing_user);
END;
CREATE TRIGGER tickets_search_update AFTER UPDATE OF subject, identity, last_source_ip, outgoing_user ON tickets
WHEN old.subject IS NOT new.subject OR old.identity IS NOT new.identity
  OR old.last_source_ip IS NOT new.last_source_ip OR old.outgoing_user IS NOT new.outgoing_user
BEGIN
    INSERT INTO tickets_search (tickets_search, rowid, subject, identity, last_source_ip, outgoing_user)
    VALUES ('delete', old.id, old.subject, old.identity, old.last_source_ip, old.outgoing_user);
    INSERT INTO tickets_search (rowid, subject, identity, last_source_ip, outgoing_user)
    VALUES (new.id, new.subject, new.identity, new.last_source_ip, new.outgoing_user);
END;

-- Free-text search finds source IPs through ticket_source_ips (every IP a ticket was seen
-- from, matched by prefix on this index) rather than through the trigram index: the last
-- source IP changes with nearly every event, and re-indexing its trigrams on each ticket
-- update cost more than a third of an import's time. The trigram index keeps the columns
-- that change seldom: subject, identity and outgoing user.
CREATE INDEX ticket_source_ips_by_ip ON ticket_source_ips (source_ip, ticket_id);

DROP TRIGGER tickets_search_update;
DROP TRIGGER tickets_search_delete;
DROP TRIGGER tickets_search_insert;
DROP TABLE tickets_search;
CREATE VIRTUAL TABLE tickets_search USING fts5(
    subject, identity, outgoing_user,
    content = 'tickets', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO tickets_search (tickets_search) VALUES ('rebuild');
CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_search (rowid, subject, identity, outgoing_user)
    VALUES (new.id, new.subject, new.identity, new.outgoing_user);
END;
CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO tickets_search (tickets_search, rowid, subject, identity, outgoing_user)
    VALUES ('delete', old.id, old.subject, old.identity, old.outgoing_user);
END;
CREATE TRIGGER tickets_search_update AFTER UPDATE OF subject, identity, outgoing_user ON tickets
WHEN old.subject IS NOT new.subject OR old.identity IS NOT new.identity
  OR old.outgoing_user IS NOT new.outgoing_user
BEGIN
    INSERT INTO tickets_search (tickets_search, rowid, subject, identity, outgoing_user)
    VALUES ('delete', old.id, old.subject, old.identity, old.outgoing_user);
    INSERT INTO tickets_search (rowid, subject, identity, outgoing_user)
    VALUES (new.id, new.subject, new.identity, new.outgoing_user);
END;

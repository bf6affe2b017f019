DROP TRIGGER tickets_search_update;
DROP TRIGGER tickets_search_delete;
DROP TRIGGER tickets_search_insert;
DROP TABLE tickets_search;
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
DROP INDEX ticket_source_ips_by_ip;

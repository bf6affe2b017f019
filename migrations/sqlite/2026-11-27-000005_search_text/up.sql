-- The queue's free text also finds tickets by their customer's name or external id. A
-- trigram index over both answers that from the index instead of testing every customer's
-- name on every search. (Postgres keeps the same in a generated column, see its twin.)
CREATE VIRTUAL TABLE customers_search USING fts5(
    name, external_id,
    content = 'customers', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO customers_search (customers_search) VALUES ('rebuild');
CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customers_search (rowid, name, external_id)
    VALUES (new.id, new.name, new.external_id);
END;
CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN
    INSERT INTO customers_search (customers_search, rowid, name, external_id)
    VALUES ('delete', old.id, old.name, old.external_id);
END;
CREATE TRIGGER customers_search_update AFTER UPDATE OF name, external_id ON customers
WHEN old.name IS NOT new.name OR old.external_id IS NOT new.external_id
BEGIN
    INSERT INTO customers_search (customers_search, rowid, name, external_id)
    VALUES ('delete', old.id, old.name, old.external_id);
    INSERT INTO customers_search (rowid, name, external_id)
    VALUES (new.id, new.name, new.external_id);
END;

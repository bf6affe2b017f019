DROP INDEX tickets_search;
ALTER TABLE tickets DROP COLUMN search_text;
CREATE INDEX tickets_search ON tickets USING gin (
    (lower(subject || ' ' || coalesce(identity, '') || ' ' || coalesce(outgoing_user, ''))) gin_trgm_ops
);
DROP INDEX customers_search;
ALTER TABLE customers DROP COLUMN search_text;

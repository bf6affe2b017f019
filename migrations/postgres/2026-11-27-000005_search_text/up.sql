-- Free text, cheaper per row. The text a search looks in is kept lower-cased in a generated
-- column of its own, with a trigram index on it: the index's recheck and a search that
-- walks the queue's order row by row then test one plain LIKE instead of lowering three
-- columns of every row they look at. Customers get the same, so the customers a search
-- names are found without lowering every customer's name and external id on each search.
-- A line break separates the columns, so no match runs from one column into the next.
ALTER TABLE customers ADD COLUMN search_text text
    GENERATED ALWAYS AS (lower(name || E'\n' || external_id)) STORED;
CREATE INDEX customers_search ON customers USING gin (search_text gin_trgm_ops);

ALTER TABLE tickets ADD COLUMN search_text text GENERATED ALWAYS AS (
    lower(subject || E'\n' || coalesce(identity, '') || E'\n' || coalesce(outgoing_user, ''))
) STORED;
DROP INDEX tickets_search;
CREATE INDEX tickets_search ON tickets USING gin (search_text gin_trgm_ops);

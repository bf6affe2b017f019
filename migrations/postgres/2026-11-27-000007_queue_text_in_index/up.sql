-- A free text common enough to be tested row by row walks the queue's last-seen order until
-- a page is full: a thousand or more rows for a text in one ticket of ten. Each row read from
-- the table is a random page. With the searchable text and the customer in the last-seen
-- indexes, that walk reads the index alone (an index-only scan) and only the page's own rows
-- come from the table. The indexes are replaced, not added to, so an import updates no more
-- indexes than before.
DROP INDEX tickets_queue;
CREATE INDEX tickets_queue ON tickets (status, last_seen, id) INCLUDE (search_text, customer_id);
DROP INDEX tickets_by_last_seen;
CREATE INDEX tickets_by_last_seen ON tickets (last_seen, id) INCLUDE (search_text, customer_id);

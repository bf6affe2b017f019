-- A free text common enough to be tested row by row walks the queue's last-seen order until
-- a page is full: a thousand or more rows for a text in one ticket of ten. With the
-- searchable columns and the customer in the last-seen indexes, SQLite tests each row on the
-- index entry and reads the table only for the rows that match (it defers a row's table read
-- until a column outside the index is needed). The indexes are replaced, not added to, so an
-- import updates no more indexes than before.
DROP INDEX tickets_queue;
CREATE INDEX tickets_queue ON tickets (status, last_seen, id, subject, identity, outgoing_user, customer_id);
DROP INDEX tickets_by_last_seen;
CREATE INDEX tickets_by_last_seen ON tickets (last_seen, id, subject, identity, outgoing_user, customer_id);

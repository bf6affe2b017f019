-- The feed filter (part of a reporter's name, e.g. `aol`) tested each ticket's events one
-- by one: cheap for a feed in most tickets, but a feed in few tickets walked the whole queue
-- reading events. Each ticket's distinct reporters now have a table of their own, as its
-- source IPs do, and the reporters seen at all a table of a few rows: the filter finds the
-- reporters it names there, then their tickets by index, or tests each ticket on one index
-- entry where they are most tickets.
CREATE TABLE reporters (
    reporter TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE ticket_reporters (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    reporter  TEXT NOT NULL,
    PRIMARY KEY (ticket_id, reporter)
) WITHOUT ROWID;
CREATE INDEX ticket_reporters_by_reporter ON ticket_reporters (reporter, ticket_id);

INSERT INTO ticket_reporters (ticket_id, reporter) SELECT DISTINCT ticket_id, reporter FROM events;
INSERT INTO reporters (reporter) SELECT DISTINCT reporter FROM ticket_reporters;

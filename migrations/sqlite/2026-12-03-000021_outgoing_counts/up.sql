-- The Outgoing Reports' figures, kept as events arrive: events per UTC day (days since
-- 1970-01-01) by kind of group and key, of one class or of all (class ''). Kinds: 't' the
-- day's total (key ''), 'i' identity, 'c' customer (its id), 'u' outgoing user. Grouping a
-- month of events on every view took seconds on a big desk.
ALTER TABLE events ADD COLUMN outgoing_user TEXT;
UPDATE events SET outgoing_user = (SELECT t.outgoing_user FROM tickets t WHERE t.id = events.ticket_id)
    WHERE ticket_id IN (SELECT id FROM tickets WHERE outgoing_user IS NOT NULL);

CREATE TABLE outgoing_counts (
    kind   TEXT NOT NULL,
    class  TEXT NOT NULL,
    day    INTEGER NOT NULL,
    key    TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (kind, class, key, day)
) WITHOUT ROWID;
CREATE INDEX outgoing_counts_days ON outgoing_counts (kind, class, day);

-- A period's totals by key, made from the counts the first time the period is shown and kept
-- from then on by the same transactions that keep the counts; a period that has ended is
-- dropped by housekeeping.
CREATE TABLE outgoing_periods (
    first_day INTEGER NOT NULL,
    last_day  INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    class     TEXT NOT NULL,
    PRIMARY KEY (first_day, last_day, kind, class)
) WITHOUT ROWID;
CREATE TABLE outgoing_period_totals (
    first_day INTEGER NOT NULL,
    last_day  INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    class     TEXT NOT NULL,
    key       TEXT NOT NULL,
    events    BIGINT NOT NULL,
    PRIMARY KEY (first_day, last_day, kind, class, key)
) WITHOUT ROWID;
CREATE INDEX outgoing_period_totals_top ON outgoing_period_totals (first_day, last_day, kind, class, events DESC);

CREATE TEMPORARY TABLE event_days AS
    SELECT feedback_type AS class, identity, customer_id, outgoing_user,
           CAST(julianday(substr(arrival_at, 1, 10)) - 2440587.5 AS INTEGER) AS day
    FROM events;
INSERT INTO outgoing_counts (kind, class, day, key, events)
    SELECT 't', class, day, '', count(*) FROM event_days GROUP BY class, day
    UNION ALL SELECT 't', '', day, '', count(*) FROM event_days GROUP BY day
    UNION ALL SELECT 'i', class, day, identity, count(*) FROM event_days WHERE identity IS NOT NULL GROUP BY class, day, identity
    UNION ALL SELECT 'i', '', day, identity, count(*) FROM event_days WHERE identity IS NOT NULL GROUP BY day, identity
    UNION ALL SELECT 'c', class, day, CAST(customer_id AS TEXT), count(*) FROM event_days WHERE customer_id IS NOT NULL GROUP BY class, day, customer_id
    UNION ALL SELECT 'c', '', day, CAST(customer_id AS TEXT), count(*) FROM event_days WHERE customer_id IS NOT NULL GROUP BY day, customer_id
    UNION ALL SELECT 'u', class, day, outgoing_user, count(*) FROM event_days WHERE outgoing_user IS NOT NULL GROUP BY class, day, outgoing_user
    UNION ALL SELECT 'u', '', day, outgoing_user, count(*) FROM event_days WHERE outgoing_user IS NOT NULL GROUP BY day, outgoing_user;
DROP TABLE event_days;

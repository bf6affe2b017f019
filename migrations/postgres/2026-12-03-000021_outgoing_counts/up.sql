-- The Outgoing Reports' figures, kept as events arrive: events per UTC day (days since
-- 1970-01-01) by kind of group and key, of one class or of all (class ''). Kinds: 't' the
-- day's total (key ''), 'i' identity, 'c' customer (its id), 'u' outgoing user. Grouping a
-- month of events on every view took seconds on a big desk.
ALTER TABLE events ADD COLUMN outgoing_user TEXT;
UPDATE events e SET outgoing_user = t.outgoing_user
    FROM tickets t WHERE t.id = e.ticket_id AND t.outgoing_user IS NOT NULL;

CREATE TABLE outgoing_counts (
    kind   TEXT NOT NULL,
    class  TEXT NOT NULL,
    day    INTEGER NOT NULL,
    key    TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (kind, class, key, day)
);
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
);
CREATE TABLE outgoing_period_totals (
    first_day INTEGER NOT NULL,
    last_day  INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    class     TEXT NOT NULL,
    key       TEXT NOT NULL,
    events    BIGINT NOT NULL,
    PRIMARY KEY (first_day, last_day, kind, class, key)
);
CREATE INDEX outgoing_period_totals_top ON outgoing_period_totals (first_day, last_day, kind, class, events DESC);

INSERT INTO outgoing_counts (kind, class, day, key, events)
    SELECT k.kind, c.class, d.day, k.key, count(*)
    FROM events e
    CROSS JOIN LATERAL (SELECT (e.arrival_at::date - DATE '1970-01-01') AS day) d
    CROSS JOIN LATERAL (VALUES (e.feedback_type), ('')) c (class)
    CROSS JOIN LATERAL (VALUES ('t', ''), ('i', e.identity), ('c', e.customer_id::text),
                               ('u', e.outgoing_user)) k (kind, key)
    WHERE k.key IS NOT NULL
    GROUP BY k.kind, c.class, d.day, k.key;

DROP TABLE outgoing_period_totals;
DROP TABLE outgoing_periods;
DROP TABLE outgoing_counts;
ALTER TABLE events DROP COLUMN outgoing_user;

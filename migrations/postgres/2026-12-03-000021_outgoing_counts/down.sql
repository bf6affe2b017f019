DROP TABLE outgoing_counts;
ALTER TABLE events DROP COLUMN outgoing_user;

ALTER TABLE customers DROP COLUMN forgotten_at;
DROP INDEX raw_messages_unpurged;
ALTER TABLE raw_messages DROP COLUMN purged_at;

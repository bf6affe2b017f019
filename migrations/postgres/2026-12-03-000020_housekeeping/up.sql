-- Housekeeping: a raw message past its retention keeps its row (sha256, size, parse outcome,
-- and the events that point at it) but loses its content; purged_at says when. A forgotten
-- customer keeps its row and counts, without personal data; forgotten_at says when.
ALTER TABLE raw_messages ADD COLUMN purged_at TIMESTAMP;
CREATE INDEX raw_messages_unpurged ON raw_messages (received_at) WHERE purged_at IS NULL;
ALTER TABLE customers ADD COLUMN forgotten_at TIMESTAMP;

-- An event's references (its raw message, ticket and customer) are no longer checked by
-- foreign keys on Postgres. Only the ingest writer inserts events, in the transaction that
-- stored the raw message and found or created the ticket; merging moves events to a ticket
-- that exists; and nothing deletes raw messages, tickets or customers. Each check cost three
-- lookups per event through the trigger machinery (a seventh of an import's database time),
-- and a lock on the ticket row. Code that comes to delete any of the three must first move
-- or delete their events.
ALTER TABLE events
    DROP CONSTRAINT events_raw_message_id_fkey,
    DROP CONSTRAINT events_ticket_id_fkey,
    DROP CONSTRAINT events_customer_id_fkey;

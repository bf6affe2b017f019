ALTER TABLE events
    ADD CONSTRAINT events_raw_message_id_fkey FOREIGN KEY (raw_message_id) REFERENCES raw_messages (id),
    ADD CONSTRAINT events_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES tickets (id),
    ADD CONSTRAINT events_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL;

ALTER TABLE mailbox_state DROP COLUMN lease_until;
ALTER TABLE mailbox_state DROP COLUMN lease_owner;

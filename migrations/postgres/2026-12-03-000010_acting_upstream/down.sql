ALTER TABLE customers DROP COLUMN language;
ALTER TABLE customers DROP COLUMN notify;
ALTER TABLE customers DROP COLUMN hosting_user;
ALTER TABLE customers DROP COLUMN billing_ref;
DROP TABLE action_attempts;
DROP INDEX actions_running;
ALTER TABLE actions DROP COLUMN lifted_by;
ALTER TABLE actions DROP COLUMN outcome;
ALTER TABLE actions DROP COLUMN claimed_by;
ALTER TABLE actions DROP COLUMN claimed_at;
ALTER TABLE actions DROP COLUMN target_user;
ALTER TABLE actions DROP COLUMN target_domain;
UPDATE actions SET state = 'cancelled' WHERE state = 'manual';
ALTER TABLE actions DROP CONSTRAINT actions_state_check;
ALTER TABLE actions ADD CONSTRAINT actions_state_check
    CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled'));

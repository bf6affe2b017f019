ALTER TABLE notes DROP COLUMN by_customer;
DROP INDEX tickets_replied;
ALTER TABLE tickets DROP COLUMN customer_status;
ALTER TABLE tickets DROP COLUMN customer_replied_at;
DROP INDEX notifications_notice;
ALTER TABLE notifications DROP COLUMN claimed_at;
ALTER TABLE notifications DROP COLUMN notice_id;
DROP TABLE notice_tickets;
DROP TABLE notices;

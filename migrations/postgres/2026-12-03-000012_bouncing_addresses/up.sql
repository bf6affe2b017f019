-- A customer's addresses a notice bounced from (`;`-separated); notices skip them.
ALTER TABLE customers ADD COLUMN bouncing TEXT;

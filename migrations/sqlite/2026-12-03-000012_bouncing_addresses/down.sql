ALTER TABLE customers DROP COLUMN bouncing;

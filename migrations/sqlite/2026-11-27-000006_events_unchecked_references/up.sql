-- Postgres stops checking an event's references with foreign keys here (see its migration
-- of the same name). SQLite keeps them: it checks them in-process, at a fraction of the
-- cost, and could only drop them by rebuilding the events table. Nothing to change.
SELECT 1;

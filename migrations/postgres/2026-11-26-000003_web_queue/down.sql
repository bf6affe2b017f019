DROP INDEX tickets_search;
DROP INDEX actions_target;
DROP INDEX tickets_class_queue;
DROP INDEX tickets_status_first_seen;
DROP INDEX tickets_by_first_seen;
DROP INDEX tickets_status_events;
DROP INDEX tickets_by_events;
DROP INDEX tickets_by_last_seen;

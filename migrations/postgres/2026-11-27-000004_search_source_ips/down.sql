DROP INDEX tickets_search;
CREATE INDEX tickets_search ON tickets USING gin (
    (lower(subject || ' ' || coalesce(identity, '') || ' ' || coalesce(last_source_ip, '') || ' ' || coalesce(outgoing_user, ''))) gin_trgm_ops
);
DROP INDEX ticket_source_ips_by_ip;

-- Free-text search finds source IPs through ticket_source_ips (every IP a ticket was seen
-- from, matched by prefix on this index) rather than through the trigram index: the last
-- source IP changes with nearly every event, and keeping its trigrams current made every
-- ticket update touch the GIN index. The trigram index keeps the columns that change
-- seldom: subject, identity and outgoing user.
CREATE INDEX ticket_source_ips_by_ip ON ticket_source_ips (source_ip text_pattern_ops, ticket_id);

DROP INDEX tickets_search;
CREATE INDEX tickets_search ON tickets USING gin (
    (lower(subject || ' ' || coalesce(identity, '') || ' ' || coalesce(outgoing_user, ''))) gin_trgm_ops
);

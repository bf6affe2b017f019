UPDATE tickets SET open_key = 'rewriting:' || CAST(id AS TEXT) WHERE open_key IS NOT NULL;
UPDATE tickets SET open_key = CAST(COALESCE(customer_id, 0) AS TEXT) || '|' || subject || '|' || class
WHERE open_key LIKE 'rewriting:%';

-- Live-ticket keys with their parts escaped ('%' as '%25', '|' as '%7C'), so that a '|' in a
-- subject or a reporter's own class can no longer make two tickets' keys meet. In two steps:
-- no key written in the second can equal a key not yet rewritten.
UPDATE tickets SET open_key = 'rewriting:' || CAST(id AS TEXT) WHERE open_key IS NOT NULL;
UPDATE tickets SET open_key = CAST(COALESCE(customer_id, 0) AS TEXT)
    || '|' || REPLACE(REPLACE(subject, '%', '%25'), '|', '%7C')
    || '|' || REPLACE(REPLACE(class, '%', '%25'), '|', '%7C')
WHERE open_key LIKE 'rewriting:%';

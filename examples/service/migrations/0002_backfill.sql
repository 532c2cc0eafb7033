-- Stands in for a data migration that takes a moment.
ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR';
SELECT pg_sleep(1.5);

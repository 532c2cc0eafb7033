-- A slow data migration, so the other replicas visibly wait for it.
CREATE TYPE order_status AS ENUM ('placed', 'paid', 'shipped');
ALTER TABLE orders ADD COLUMN status order_status NOT NULL DEFAULT 'placed';
SELECT pg_sleep(1.5);

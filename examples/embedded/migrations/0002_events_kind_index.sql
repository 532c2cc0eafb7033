-- lockstep:no-transaction
-- Built without blocking writes; IF NOT EXISTS makes a retry safe.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_kind_idx ON events (kind);

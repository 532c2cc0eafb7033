CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now()
);

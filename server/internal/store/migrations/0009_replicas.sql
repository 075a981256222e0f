-- The addresses of the servers sharing this database, for clients and
-- gateways to fail over to: each replica writes its public URL (fixed = 0)
-- and the addresses its admin gave for the instance (fixed = 1), and
-- refreshes seen_at while it runs. A replica that stopped drops out of
-- the list once seen_at is old.
CREATE TABLE replicas (
    url     TEXT PRIMARY KEY,
    fixed   INTEGER NOT NULL DEFAULT 0,
    seen_at BIGINT NOT NULL
);
CREATE INDEX replicas_seen ON replicas(seen_at);

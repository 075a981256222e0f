-- Gateway tokens get an id to list and revoke them by, an optional name and
-- expiry, and a revocation time. last_seen (from 0001) holds the last use.
-- Tokens made before this get the start of their hash as id: the hash of
-- 32 random bytes is itself random and unique, the id has the length and
-- alphabet of new ones, and a part of a hash does not help anyone find the
-- token. Revoked tokens stay, so that a gateway using one is told so.
ALTER TABLE gateway_tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE gateway_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE gateway_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE gateway_tokens ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
UPDATE gateway_tokens SET id = substr(token_hash, 1, 24) WHERE id = '';
CREATE UNIQUE INDEX gateway_tokens_id ON gateway_tokens(id);
CREATE INDEX gateway_tokens_location ON gateway_tokens(location_id, created_at);

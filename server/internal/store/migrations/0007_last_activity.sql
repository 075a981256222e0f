-- A session's last activity: its latest handshake, or the time of the last
-- report in which the bytes received from its client grew. A busy tunnel
-- renews its handshake only every two minutes or so, so idleness is judged
-- by this, not by the handshake alone.
ALTER TABLE sessions ADD COLUMN last_activity BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_activity = latest_handshake;
DROP INDEX sessions_active_handshake;
CREATE INDEX sessions_active_activity ON sessions(location_id, last_activity) WHERE ended_at = 0;

-- The idle sweep looks, per location, for active sessions whose latest
-- handshake and authorization are both older than a cutoff, and for those
-- past the location's maximum age.
CREATE INDEX sessions_active_handshake ON sessions(location_id, latest_handshake) WHERE ended_at = 0;
CREATE INDEX sessions_active_authorized ON sessions(location_id, authorized_at) WHERE ended_at = 0;

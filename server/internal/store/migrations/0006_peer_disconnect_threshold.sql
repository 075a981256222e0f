-- The column takes the name the API, the web form and the Go code give
-- the setting: the peer disconnect threshold, in seconds.
ALTER TABLE locations RENAME COLUMN threshold_seconds TO peer_disconnect_threshold_seconds;

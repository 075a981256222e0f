-- The schema uses types and statements that SQLite and PostgreSQL both accept:
-- TEXT ids, BIGINT unix milliseconds (0 means unset), INTEGER flags.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    username           TEXT NOT NULL UNIQUE,
    email              TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    admin              INTEGER NOT NULL DEFAULT 0,
    groups_csv         TEXT NOT NULL DEFAULT '',
    totp_secret        TEXT NOT NULL DEFAULT '',
    totp_enabled       INTEGER NOT NULL DEFAULT 0,
    totp_pending       TEXT NOT NULL DEFAULT '',
    email_mfa_enabled  INTEGER NOT NULL DEFAULT 0,
    last_mail_at       BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE enrollment_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_name  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL UNIQUE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE locations (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    address               TEXT NOT NULL,
    listen_port           INTEGER NOT NULL,
    endpoint              TEXT NOT NULL,
    allowed_ips           TEXT NOT NULL DEFAULT '',
    dns                   TEXT NOT NULL DEFAULT '',
    keepalive_seconds     INTEGER NOT NULL,
    mfa_mode              INTEGER NOT NULL,
    threshold_seconds     INTEGER NOT NULL,
    private_key           TEXT NOT NULL,
    public_key            TEXT NOT NULL,
    allowed_groups        TEXT NOT NULL DEFAULT '',
    config_version        BIGINT NOT NULL,
    mtu                   INTEGER NOT NULL,
    max_session_seconds   INTEGER NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL
);

-- An address, once given to a device in a location, stays that device's;
-- device_id is emptied when the device is deleted and the address is only
-- handed out again when the pool has no never-used address left.
CREATE TABLE addresses (
    location_id  TEXT NOT NULL REFERENCES locations(id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    assigned_at  BIGINT NOT NULL,
    PRIMARY KEY (location_id, address)
);
CREATE INDEX addresses_device ON addresses(device_id);
CREATE UNIQUE INDEX addresses_one_per_device ON addresses(location_id, device_id) WHERE device_id <> '';

CREATE TABLE mfa_challenges (
    token_hash   TEXT PRIMARY KEY,
    purpose      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id    TEXT NOT NULL DEFAULT '',
    location_id  TEXT NOT NULL DEFAULT '',
    method       INTEGER NOT NULL,
    code_hash    TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id, purpose);

CREATE TABLE mfa_failures (
    user_id  TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX mfa_failures_user ON mfa_failures(user_id, at);

CREATE TABLE totp_used_steps (
    user_id  TEXT NOT NULL,
    step     BIGINT NOT NULL,
    used_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, step)
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    location_id       TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    method            INTEGER NOT NULL,
    state             INTEGER NOT NULL,
    preshared_key     TEXT NOT NULL DEFAULT '',
    authorized_at     BIGINT NOT NULL,
    latest_handshake  BIGINT NOT NULL DEFAULT 0,
    rx_bytes          BIGINT NOT NULL DEFAULT 0,
    tx_bytes          BIGINT NOT NULL DEFAULT 0,
    endpoint          TEXT NOT NULL DEFAULT '',
    ended_at          BIGINT NOT NULL DEFAULT 0,
    end_reason        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_location_active ON sessions(location_id, ended_at);
CREATE INDEX sessions_device ON sessions(device_id, ended_at);
CREATE UNIQUE INDEX sessions_one_active ON sessions(location_id, device_id) WHERE ended_at = 0;

CREATE TABLE gateway_tokens (
    token_hash   TEXT PRIMARY KEY,
    location_id  TEXT NOT NULL REFERENCES locations(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL DEFAULT 0,
    last_report  BIGINT NOT NULL DEFAULT 0
);

-- AUTO_ID is spelled per engine by the migrator.
CREATE TABLE audit_events (
    id           AUTO_ID,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    detail       TEXT NOT NULL,
    remote_addr  TEXT NOT NULL
);
CREATE INDEX audit_events_action ON audit_events(action);

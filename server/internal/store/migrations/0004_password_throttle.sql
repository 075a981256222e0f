-- Wrong passwords, kept as long as the throttle looks back (see
-- PasswordFailureKeep). account is the username tried, whether or not such
-- a user exists; source is the address it came from (IPv6 by /64). A row is
-- written before the password is checked and deleted again when it was
-- right, so concurrent tries see each other. forgiven is set once the right
-- password came from the same source: it then no longer counts for that
-- account and source, but still for the account and for the source.
CREATE TABLE password_failures (
    id       AUTO_ID,
    account  TEXT NOT NULL,
    source   TEXT NOT NULL,
    at       BIGINT NOT NULL,
    forgiven INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX password_failures_account ON password_failures(account, at);
CREATE INDEX password_failures_source ON password_failures(source, at);
CREATE INDEX password_failures_at ON password_failures(at);

-- One row per account and per source that tried a password recently.
-- Updating it first in the checking transaction makes PostgreSQL hold the
-- row until commit, so concurrent tries for one account (or from one
-- source) are checked one after the other, as on SQLite.
CREATE TABLE password_throttle_locks (
    key TEXT PRIMARY KEY,
    at  BIGINT NOT NULL
);
CREATE INDEX password_throttle_locks_at ON password_throttle_locks(at);

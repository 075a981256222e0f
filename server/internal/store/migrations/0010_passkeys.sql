-- Passkeys and security keys (WebAuthn credentials) of users. The public
-- key is not a secret; the credential id is the authenticator's handle,
-- unique across the relying party. sign_count is the authenticator's
-- counter from the last assertion, to notice a cloned key.
CREATE TABLE passkeys (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    credential_id    TEXT NOT NULL UNIQUE,
    public_key       TEXT NOT NULL,
    sign_count       BIGINT NOT NULL DEFAULT 0,
    aaguid           TEXT NOT NULL DEFAULT '',
    backup_eligible  INTEGER NOT NULL DEFAULT 0,
    transports       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A connection approved in a browser keeps the address it was asked
-- from (the approval page shows it), when the page approved or refused
-- it, and a passkey setup keeps its ceremony state (the options' challenge).
ALTER TABLE mfa_challenges ADD COLUMN remote_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE mfa_challenges ADD COLUMN approved_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mfa_challenges ADD COLUMN refused_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mfa_challenges ADD COLUMN ceremony TEXT NOT NULL DEFAULT '';

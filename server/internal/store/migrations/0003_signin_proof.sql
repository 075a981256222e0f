-- When a bearer token last proved a second factor (sign-in with a code, a
-- confirmed factor setup, a step-up): changing factors needs a recent one.
ALTER TABLE api_tokens ADD COLUMN proved_at BIGINT NOT NULL DEFAULT 0;

-- A step-up challenge names the bearer token (its hash) it proves a factor
-- for; sign-in challenges leave it empty.
ALTER TABLE mfa_challenges ADD COLUMN bound_token TEXT NOT NULL DEFAULT '';

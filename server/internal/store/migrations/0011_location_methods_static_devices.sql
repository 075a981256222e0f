-- The second factors a location accepts, as MfaMethod numbers separated by
-- commas; empty accepts every method the server offers.
ALTER TABLE locations ADD COLUMN allowed_mfa_methods TEXT NOT NULL DEFAULT '';
-- A device made from the profile as a standard WireGuard config (a phone
-- with the official app, a router) is a static peer of this one location;
-- empty for the devices of the Wicket client.
ALTER TABLE devices ADD COLUMN config_location_id TEXT NOT NULL DEFAULT '';

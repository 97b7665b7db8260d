-- teehsm console store, schema version 7: a second factor for console users.
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only.

-- The user's TOTP secret (RFC 6238), sealed with a key derived from the
-- console's audit key (hex: nonce || AES-256-GCM ciphertext); NULL: no
-- second factor.
ALTER TABLE users ADD COLUMN totp_sealed TEXT;
-- The last time step a code was accepted for (a code is good once).
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

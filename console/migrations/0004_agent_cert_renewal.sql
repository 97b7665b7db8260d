-- teehsm console store, schema version 4: agent certificate renewal.
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only.

-- notAfter (Unix ms) of the certificate in cert_fingerprint; NULL for hosts
-- enrolled before schema 4 until their first renewal.
ALTER TABLE hosts ADD COLUMN cert_not_after_ms BIGINT;

-- A certificate issued by RenewCertificate that the agent has not used yet.
-- Until its first call with it, both it and cert_fingerprint authenticate the
-- host (an agent that stops half way through a renewal keeps its old one);
-- that first call makes it the host's certificate and clears these columns.
ALTER TABLE hosts ADD COLUMN pending_cert_fingerprint TEXT;
ALTER TABLE hosts ADD COLUMN pending_cert_not_after_ms BIGINT;

-- An operator asked for a renewal (1) that the agent has not completed yet.
ALTER TABLE hosts ADD COLUMN renew_requested BIGINT NOT NULL DEFAULT 0;

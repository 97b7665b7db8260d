-- teehsm console store, schema version 8: pruning the audit log.
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only.

-- Where the audit chain starts after `teehsm-console audit prune` moved
-- its oldest entries to an archive file: the last pruned entry's number and
-- MAC (the next entry chains to it), when, the archive's SHA-256, and an
-- HMAC over all of that with the audit key, so that whoever can write the
-- database but not read the key cannot move the anchor to hide entries
-- they deleted. At most one row (id = 1); none until the first prune.
CREATE TABLE audit_anchor (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    mac TEXT NOT NULL,
    pruned_at_ms BIGINT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    anchor_mac TEXT NOT NULL
);

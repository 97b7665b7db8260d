-- teehsm console store, schema version 6: a tamper-evident audit log.
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only.

-- HMAC-SHA-256 (hex) over the previous entry's mac and this entry's fields,
-- with the key in the console's data directory (audit-key, mode 0600): who
-- can write the database but not read that file cannot change, insert or
-- delete entries without the chain showing it. NULL for entries written
-- before schema 6.
ALTER TABLE audit ADD COLUMN mac TEXT;

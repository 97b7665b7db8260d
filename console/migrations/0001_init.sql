-- teehsm console store, schema version 1.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Only TEXT, BIGINT,
-- DOUBLE PRECISION; explicit keys (no AUTOINCREMENT / SERIAL); binary data
-- is stored hex-encoded in TEXT; times are Unix milliseconds.

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    group_name TEXT NOT NULL,
    enrolled_at_ms BIGINT NOT NULL,
    last_seen_ms BIGINT,
    cert_fingerprint TEXT NOT NULL,
    status TEXT NOT NULL
);

CREATE TABLE host_reports (
    host_id TEXT PRIMARY KEY REFERENCES hosts (id),
    received_at_ms BIGINT NOT NULL,
    report_json TEXT NOT NULL
);

CREATE TABLE host_samples (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    at_ms BIGINT NOT NULL,
    ta_cpu_percent DOUBLE PRECISION NOT NULL,
    ta_memory_bytes BIGINT NOT NULL,
    ca_cpu_percent DOUBLE PRECISION NOT NULL,
    ca_memory_bytes BIGINT NOT NULL,
    token_keys_json TEXT NOT NULL,
    PRIMARY KEY (host_id, at_ms)
);
CREATE INDEX host_samples_at ON host_samples (at_ms);

CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    used_by_host TEXT
);

CREATE TABLE alerts (
    fingerprint TEXT NOT NULL,
    starts_at_ms BIGINT NOT NULL,
    rule_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    host_id TEXT,
    group_name TEXT,
    ta TEXT,
    slot BIGINT,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    ends_at_ms BIGINT,
    status TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at_ms BIGINT,
    PRIMARY KEY (fingerprint, starts_at_ms)
);
CREATE INDEX alerts_status ON alerts (status, fingerprint);
CREATE INDEX alerts_starts ON alerts (starts_at_ms);

CREATE TABLE engine_state (
    id BIGINT PRIMARY KEY,
    saved_at_ms BIGINT NOT NULL,
    state_json TEXT NOT NULL
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL
);

CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details_json TEXT NOT NULL
);

CREATE TABLE jobs (
    id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_host TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    result_json TEXT
);
CREATE INDEX jobs_target ON jobs (target_host, id);

CREATE TABLE licence (
    id BIGINT PRIMARY KEY,
    installed_at_ms BIGINT NOT NULL,
    licence_hex TEXT NOT NULL
);

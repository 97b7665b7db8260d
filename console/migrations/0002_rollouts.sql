-- teehsm console store, schema version 2: TA packages, rollouts, desired state.
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only; explicit keys.

-- Packages imported with `teehsm-console package add` (files under
-- <data-dir>/packages/versions/<version>/, signature verified on import).
CREATE TABLE packages (
    version TEXT PRIMARY KEY,
    security_version BIGINT NOT NULL,
    platform TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    total_bytes BIGINT NOT NULL,
    added_at_ms BIGINT NOT NULL,
    added_by TEXT NOT NULL
);

-- One rollout = one "ta_upgrade" job per target host (rollout_jobs).
CREATE TABLE rollouts (
    id BIGINT PRIMARY KEY,
    version TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE rollout_jobs (
    rollout_id BIGINT NOT NULL REFERENCES rollouts (id),
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    host_id TEXT NOT NULL,
    PRIMARY KEY (rollout_id, job_id)
);
CREATE INDEX rollout_jobs_job ON rollout_jobs (job_id);

-- What the console wants on each host, per item (e.g. item 'ta_version').
CREATE TABLE desired_state (
    host_id TEXT NOT NULL REFERENCES hosts (id),
    item TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (host_id, item)
);

CREATE INDEX jobs_state ON jobs (target_host, state, id);

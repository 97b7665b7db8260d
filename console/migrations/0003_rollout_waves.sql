-- teehsm console store, schema version 3: staged rollouts (waves).
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only; explicit keys.

-- Stop queuing further waves once a host of the rollout failed (1) or not (0).
ALTER TABLE rollouts ADD COLUMN stop_on_failure BIGINT NOT NULL DEFAULT 0;

-- The wave (0, 1, ...) a host's job belongs to; rollouts before schema 3 have one wave.
ALTER TABLE rollout_jobs ADD COLUMN wave BIGINT NOT NULL DEFAULT 0;

-- Hosts of a rollout whose wave has not been queued yet: 'pending' until the
-- wave before theirs has finished (the row then goes and the host gets its
-- job), or 'skipped' when the rollout stopped before their wave (a failure
-- with stop_on_failure, a cancel, or another upgrade job open on the host),
-- with the reason in note.
CREATE TABLE rollout_waiting (
    rollout_id BIGINT NOT NULL REFERENCES rollouts (id),
    host_id TEXT NOT NULL,
    wave BIGINT NOT NULL,
    state TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (rollout_id, host_id)
);
CREATE INDEX rollout_waiting_host ON rollout_waiting (host_id, state);

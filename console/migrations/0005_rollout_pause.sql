-- teehsm console store, schema version 5: pausing a staged rollout between waves.
-- Portable SQL (see 0001_init.sql): TEXT, BIGINT only.

-- Who paused the rollout and when (NULL: not paused). A paused rollout
-- queues no further wave; the jobs of the wave already queued go on.
ALTER TABLE rollouts ADD COLUMN paused_by TEXT;
ALTER TABLE rollouts ADD COLUMN paused_at_ms BIGINT;

-- Best efforts: for each completed activity, the fastest stretch of each
-- standard distance (see src/domain/best_efforts.rs), written by the
-- best_efforts consumer of the change log (src/changes/best_efforts.rs).
-- Times are milliseconds; start_ms is the interpolated start (epoch ms);
-- the indices are the route points the stretch starts and ends between.
CREATE TABLE best_efforts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id BIGINT NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL,
    sport TEXT NOT NULL,
    distance_key TEXT NOT NULL,
    distance REAL NOT NULL,
    elapsed_ms BIGINT NOT NULL,
    moving_ms BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    start_index BIGINT NOT NULL,
    end_index BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (activity_id, distance_key)
);
-- An athlete's efforts per distance (their PRs, their board entries).
CREATE INDEX best_efforts_athlete ON best_efforts (athlete_id, sport, distance_key, elapsed_ms);

-- The global leaderboards' work queue: one row per athlete whose board
-- entries may have changed (efforts written or removed, a visibility
-- change, a profile edit), in the same transaction as the change. Every
-- node tails it to update its in-memory boards; rows older than an hour
-- are pruned. Sequence numbers come from best_effort_seq, whose row lock
-- is held to the commit, so they commit in order (a tail never skips).
CREATE TABLE best_effort_seq (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO best_effort_seq (id, seq) VALUES (1, 0);
CREATE TABLE best_effort_changes (
    seq BIGINT PRIMARY KEY,
    athlete_id BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);

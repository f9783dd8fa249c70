-- The activity change log (a transactional outbox): one row per change,
-- appended in the same transaction as the change. See src/changes/.
ALTER TABLE activities ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- The last sequence number handed out. Taking it is an UPDATE of this one
-- row, which holds its lock until commit: sequence numbers commit in
-- order, so a reader never sees seq N+1 before N.
CREATE TABLE change_seq (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO change_seq (id, seq) VALUES (1, 0);

-- No foreign key: a deletion's event outlives the activity.
CREATE TABLE change_log (
    seq BIGINT PRIMARY KEY,
    activity_id BIGINT NOT NULL,
    athlete_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    changed BIGINT NOT NULL,
    visibility TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);

-- Each consumer's position per partition: the last seq whose effect is
-- committed, written in the same transaction as the effect.
CREATE TABLE change_consumers (
    consumer TEXT NOT NULL,
    partition_no BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (consumer, partition_no)
);

-- The athlete_totals consumer: weekly totals per athlete and sport (what
-- club leaderboards rank), and what each completed activity adds to them.
CREATE TABLE athlete_week_totals (
    athlete_id BIGINT NOT NULL,
    week_start_ms BIGINT NOT NULL,
    sport_type TEXT NOT NULL,
    activities BIGINT NOT NULL,
    distance DOUBLE PRECISION NOT NULL,
    moving_time BIGINT NOT NULL,
    elevation_gain DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (athlete_id, week_start_ms, sport_type)
);
CREATE TABLE athlete_totals_sources (
    activity_id BIGINT PRIMARY KEY,
    athlete_id BIGINT NOT NULL,
    week_start_ms BIGINT NOT NULL,
    sport_type TEXT NOT NULL,
    distance DOUBLE PRECISION NOT NULL,
    moving_time BIGINT NOT NULL,
    elevation_gain DOUBLE PRECISION NOT NULL
);

-- Times are epoch milliseconds (BIGINT) so both backends share one SQL text.
CREATE TABLE athletes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    firstname TEXT NOT NULL DEFAULT '',
    lastname TEXT NOT NULL DEFAULT '',
    sex TEXT,
    birth_year BIGINT,
    weight_kg REAL,
    country TEXT,
    state TEXT,
    city TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL
);
CREATE INDEX access_tokens_athlete ON access_tokens (athlete_id);

-- One row per direction; two athletes are friends when both rows exist.
CREATE TABLE friend_edges (
    from_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    to_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX friend_edges_to ON friend_edges (to_id, from_id);

CREATE TABLE activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    external_id TEXT,
    name TEXT NOT NULL,
    sport_type TEXT NOT NULL,
    visibility TEXT NOT NULL,
    state TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    completed_ms BIGINT,
    status_log TEXT NOT NULL,
    distance REAL NOT NULL DEFAULT 0,
    moving_time BIGINT NOT NULL DEFAULT 0,
    active_time BIGINT NOT NULL DEFAULT 0,
    elapsed_time BIGINT NOT NULL DEFAULT 0,
    total_elevation_gain REAL NOT NULL DEFAULT 0,
    max_speed REAL NOT NULL DEFAULT 0,
    average_speed REAL NOT NULL DEFAULT 0,
    elev_high REAL,
    elev_low REAL,
    splits TEXT NOT NULL DEFAULT '[]',
    summary_polyline TEXT,
    point_count BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (athlete_id, external_id)
);
CREATE INDEX activities_feed ON activities (athlete_id, start_ms DESC, id DESC) WHERE state = 'COMPLETE';
CREATE INDEX activities_in_progress ON activities (id) WHERE state <> 'COMPLETE';

-- The route in checkpointed chunks of encoded fixes, appended by the live actors.
CREATE TABLE route_chunks (
    activity_id BIGINT NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    point_count BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (activity_id, seq)
);

-- Tracker apps (OsmAnd, Traccar Client, OwnTracks, Overland) that post an
-- athlete's positions. The token is stored as its SHA-256 (hex) only.
-- `activity_id` is the device's open live activity; `floor_ms` the last
-- fix of its last completed one (resends at or before it are dropped).
CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    protocol TEXT NOT NULL,
    sport_type TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    idle_timeout_s BIGINT NOT NULL,
    activity_id BIGINT,
    floor_ms BIGINT,
    last_seen_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX devices_athlete ON devices (athlete_id, id);
CREATE INDEX devices_open ON devices (activity_id);

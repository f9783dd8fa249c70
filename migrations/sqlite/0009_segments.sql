-- Segments (issue 14): a stretch of road or trail, its efforts and stars.
-- `points` is the segment's polyline as postcard-encoded (lat, lng, alt)
-- triples (src/domain/segments/), decoded only when a segment is matched
-- or drawn; the columns beside it are what lists and the spatial index
-- need without decoding it.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sport_type TEXT NOT NULL,
    points BLOB NOT NULL,
    point_count BIGINT NOT NULL,
    distance REAL NOT NULL,
    average_grade REAL NOT NULL,
    maximum_grade REAL NOT NULL,
    elevation_high REAL,
    elevation_low REAL,
    total_elevation_gain REAL NOT NULL,
    climb_category BIGINT NOT NULL,
    start_lat REAL NOT NULL,
    start_lng REAL NOT NULL,
    end_lat REAL NOT NULL,
    end_lng REAL NOT NULL,
    min_lat REAL NOT NULL,
    min_lng REAL NOT NULL,
    max_lat REAL NOT NULL,
    max_lng REAL NOT NULL,
    effort_count BIGINT NOT NULL DEFAULT 0,
    athlete_count BIGINT NOT NULL DEFAULT 0,
    -- Matching against the activities that existed before the segment:
    -- the last activity id done (NULL once the backfill is complete).
    backfill_after BIGINT DEFAULT 0,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX segments_sport ON segments (sport_type, id);
CREATE INDEX segments_backfill ON segments (id) WHERE backfill_after IS NOT NULL;
CREATE INDEX segments_start ON segments (start_lat, start_lng);

CREATE TABLE segment_stars (
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    segment_id BIGINT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (athlete_id, segment_id)
);
CREATE INDEX segment_stars_segment ON segment_stars (segment_id);

-- One pass of an activity through a segment. Times in ms: start_ms is
-- interpolated to where the track crosses the segment's start.
CREATE TABLE segment_efforts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    segment_id BIGINT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    activity_id BIGINT NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    elapsed_ms BIGINT NOT NULL,
    moving_ms BIGINT NOT NULL,
    start_index BIGINT,
    end_index BIGINT,
    distance REAL,
    created_ms BIGINT
);
CREATE INDEX segment_efforts_slot ON segment_efforts (segment_id, athlete_id);
CREATE INDEX segment_efforts_activity ON segment_efforts (activity_id);
CREATE INDEX segment_efforts_athlete ON segment_efforts (athlete_id, start_ms);

-- The leaderboard work queue: every transaction that adds or removes
-- efforts, or changes whether or how one shows on a board (visibility,
-- deletion of the activity or the segment), appends one row per affected
-- (segment, athlete) slot. The leaderboards tail it.
CREATE TABLE segment_effort_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    segment_id BIGINT NOT NULL,
    athlete_id BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);

-- Each completed activity's bounding box and sport, written by the
-- matcher: a new segment's backfill finds the activities that may pass
-- it by box, not by reading every route.
CREATE TABLE activity_bounds (
    activity_id BIGINT PRIMARY KEY REFERENCES activities (id) ON DELETE CASCADE,
    sport_type TEXT NOT NULL,
    min_lat REAL NOT NULL,
    min_lng REAL NOT NULL,
    max_lat REAL NOT NULL,
    max_lng REAL NOT NULL
);
CREATE INDEX activity_bounds_box ON activity_bounds (sport_type, min_lat, max_lat);

-- Privacy zones: the point the athlete entered and, drawn once at random
-- when the zone is created, the larger hidden circle around an offset
-- centre (see src/domain/privacy.rs). Points inside the hidden circle are
-- shown to no one but the owner; they are filtered when read, so nothing
-- stored is rewritten when zones change.
CREATE TABLE privacy_zones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    lat REAL NOT NULL,
    lng REAL NOT NULL,
    radius_m REAL NOT NULL,
    hidden_lat REAL NOT NULL,
    hidden_lng REAL NOT NULL,
    hidden_radius_m REAL NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX privacy_zones_athlete ON privacy_zones (athlete_id);

-- Share links: a token (only its SHA-256 is kept) that lets anyone watch
-- one activity, or whatever the athlete records live, until it expires or
-- is revoked. activity_id NULL: the athlete's live share.
CREATE TABLE share_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    activity_id BIGINT REFERENCES activities (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX share_links_athlete ON share_links (athlete_id);

-- Clubs: a sport (Ride, Run or Any), a time zone (IANA name: the weekly
-- leaderboard's week runs Monday 00:00 to Monday 00:00 there) and whether
-- joining needs an admin's approval. member_count is kept with each
-- membership change so that a club of millions answers without counting.
CREATE TABLE clubs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    sport_type TEXT NOT NULL,
    country TEXT,
    state TEXT,
    city TEXT,
    timezone TEXT NOT NULL,
    private BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id BIGINT NOT NULL REFERENCES athletes (id),
    member_count BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Approved members only (join requests are below). role: member, admin, owner.
CREATE TABLE club_members (
    club_id BIGINT NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (club_id, athlete_id)
);
CREATE INDEX club_members_athlete ON club_members (athlete_id, club_id);

-- Pending requests to join a private club, until an admin approves or
-- declines them.
CREATE TABLE club_join_requests (
    club_id BIGINT NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    requested_ms BIGINT NOT NULL,
    PRIMARY KEY (club_id, athlete_id)
);

-- Members' recent activities, newest first (a club's activity list and
-- its leaderboards' rebuild read a time range across athletes).
CREATE INDEX activities_recent ON activities (start_ms DESC, id DESC) WHERE state = 'COMPLETE';

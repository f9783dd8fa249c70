-- Strava's fields of an activity that only the v3 API shows (issue 18):
-- a manual activity's description and its trainer and commute flags.
CREATE TABLE activity_details (
    activity_id BIGINT PRIMARY KEY REFERENCES activities (id) ON DELETE CASCADE,
    description TEXT,
    trainer BOOLEAN NOT NULL DEFAULT FALSE,
    commute BOOLEAN NOT NULL DEFAULT FALSE
);

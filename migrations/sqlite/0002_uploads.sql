-- File uploads (GPX/FIT/TCX). Processing is synchronous: a row is written
-- once, with either the created activity or the error.
CREATE TABLE uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    external_id TEXT,
    data_type TEXT NOT NULL,
    error TEXT,
    activity_id BIGINT REFERENCES activities (id) ON DELETE SET NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX uploads_athlete ON uploads (athlete_id);
-- Duplicate detection: same athlete, start time and sport.
CREATE INDEX activities_start ON activities (athlete_id, start_ms);

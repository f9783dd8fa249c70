-- Segment leaderboards: the boards poll athletes changed since their last
-- look (sex, birth year, weight move entries between boards).
CREATE INDEX IF NOT EXISTS athletes_updated_ms ON athletes (updated_ms);

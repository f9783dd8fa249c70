-- One effort per pass: the change-log matcher and a new segment's backfill
-- may match the same activity at once; the key makes the second writer
-- update the pass instead of adding it twice.
DELETE FROM segment_efforts WHERE id NOT IN (
    SELECT MIN(id) FROM segment_efforts GROUP BY activity_id, segment_id, start_ms
);
CREATE UNIQUE INDEX segment_efforts_pass ON segment_efforts (activity_id, segment_id, start_ms);

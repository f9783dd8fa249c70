-- The one-time best efforts backfill (src/changes/best_efforts_backfill.rs):
-- activities completed before best efforts existed, whose change-log
-- events were pruned, never reached the best_efforts consumer. A task at
-- start walks them in id order up to upto_id (the highest id when this
-- migration ran; later activities reach the consumer), moving after_id in
-- the same transaction as each batch's efforts, so it resumes where it
-- stopped and two nodes never do a batch twice.
CREATE TABLE best_effort_backfill (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    after_id BIGINT NOT NULL,
    upto_id BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
INSERT INTO best_effort_backfill (id, after_id, upto_id, updated_ms)
SELECT 1, 0, COALESCE(MAX(id), 0), 0 FROM activities;

-- Uploads without an external id are duplicates when the athlete already
-- has an activity of the same sport and start. The check in the import
-- transaction races with a concurrent identical upload, so the store
-- enforces it: imports set `import_key` (sport and start), unique per
-- athlete. Live activities leave it NULL (NULLs never collide).
ALTER TABLE activities ADD COLUMN import_key TEXT;
CREATE UNIQUE INDEX activities_import_key ON activities (athlete_id, import_key);

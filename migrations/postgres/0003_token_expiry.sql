-- Sliding token expiry: a token lapses when unused for the configured time
-- (PACER_TOKEN_TTL_S). NULL means "never renewed": created_ms counts.
ALTER TABLE access_tokens ADD COLUMN used_ms BIGINT;
-- Tokens issued before expiry existed start their time now, not at creation.
UPDATE access_tokens SET used_ms = CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT);

-- Strava-compatible OAuth apps (issue 18). Secrets, codes and tokens are
-- stored as their SHA-256 (hex) only. `id` is the app's client_id.
CREATE TABLE oauth_apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    website TEXT NOT NULL,
    -- JSON array of the registered redirect URIs.
    redirect_uris TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX oauth_apps_owner ON oauth_apps (owner_id, id);

-- Authorization codes: single use (deleted when exchanged), short-lived.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    app_id BIGINT NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

-- What an athlete allowed an app (the scopes of the latest approval).
CREATE TABLE oauth_grants (
    app_id BIGINT NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, athlete_id)
);
CREATE INDEX oauth_grants_athlete ON oauth_grants (athlete_id);

-- An app's token pair for one athlete. Refreshing replaces the row (the
-- refresh token rotates); deauthorizing deletes the athlete's rows.
CREATE TABLE oauth_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    access_hash TEXT NOT NULL UNIQUE,
    refresh_hash TEXT NOT NULL UNIQUE,
    app_id BIGINT NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    athlete_id BIGINT NOT NULL REFERENCES athletes (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    access_expires_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (app_id, athlete_id);

-- Push subscriptions: one per app.
CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL UNIQUE REFERENCES oauth_apps (id) ON DELETE CASCADE,
    callback_url TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Webhook events waiting for their callback (deleted once delivered or
-- given up on). Written with the change log consumer's position, so an
-- event is never lost; delivered oldest first per (subscription, object).
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id BIGINT NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    object_type TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    -- The event's JSON body, as POSTed.
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_object ON webhook_deliveries (subscription_id, object_type, object_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms);

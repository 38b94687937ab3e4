-- Alerts delivered by Alertmanager's webhook, and the record of login sessions.
-- Times are Unix epoch seconds with fractions.
--
-- One row per occurrence of an alert: Alertmanager's fingerprint (a hash of the labels)
-- and the time it started firing. A resolved notification updates that row; a repeated
-- notification changes nothing.
CREATE TABLE IF NOT EXISTS received_alerts (
    id BIGSERIAL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    starts_at DOUBLE PRECISION NOT NULL,
    ends_at DOUBLE PRECISION,
    generator_url TEXT,
    received_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (fingerprint, starts_at)
);
CREATE INDEX IF NOT EXISTS received_alerts_status ON received_alerts (status, starts_at);

-- Login sessions as issued (cookie sessions leave no other trace on the server): the
-- active-sessions gauge counts the rows neither ended (logout) nor past their deadline.
-- `id` is a hash of the session's random nonce, never the cookie itself.
CREATE TABLE IF NOT EXISTS login_sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS login_sessions_expiry ON login_sessions (expires_at);

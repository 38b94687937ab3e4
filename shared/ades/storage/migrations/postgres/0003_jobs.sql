-- Ingest jobs run by `ades worker`, and webhook deliveries remembered to refuse replays.
-- A running job holds a lease (lease_until, epoch seconds) that its worker renews; a job whose
-- lease ran out belongs to a dead worker and is claimed again.
CREATE TABLE IF NOT EXISTS ingest_jobs (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    reason TEXT NOT NULL,
    requested_by TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    worker TEXT,
    lease_until DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    error TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS ingest_jobs_status ON ingest_jobs (status, id);
CREATE INDEX IF NOT EXISTS ingest_jobs_repo ON ingest_jobs (repo_id, id);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    source TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    repo_id BIGINT REFERENCES repositories(id) ON DELETE CASCADE,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, delivery_id)
);

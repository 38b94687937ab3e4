-- Annotations: comments on commits, experiences and files, in threads, with mentions.
-- Every change (create, edit, resolve, delete) takes the repository's next cursor value and
-- is kept in annotation_changes, so a client that was away replays exactly what it missed.
-- Times are Unix epoch seconds with fractions.
CREATE TABLE IF NOT EXISTS annotations (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    thread_id BIGINT REFERENCES annotations(id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('commit', 'experience', 'file')),
    target TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    mentions TEXT NOT NULL DEFAULT '[]',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    resolved_at DOUBLE PRECISION,
    resolved_by TEXT,
    deleted_at DOUBLE PRECISION,
    seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_repo_target ON annotations (repo_id, target_kind, target);
CREATE INDEX IF NOT EXISTS annotations_thread ON annotations (thread_id);
CREATE INDEX IF NOT EXISTS annotations_repo_author ON annotations (repo_id, author);

CREATE TABLE IF NOT EXISTS annotation_changes (
    repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    annotation_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (repo_id, seq)
);

CREATE TABLE IF NOT EXISTS annotation_cursors (
    repo_id BIGINT PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    last_seq BIGINT NOT NULL
);

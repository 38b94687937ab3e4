-- Annotations: comments on commits, experiences and files, in threads, with mentions.
-- Every change (create, edit, resolve, delete) takes the repository's next cursor value and
-- is kept in annotation_changes, so a client that was away replays exactly what it missed.
-- Times are Unix epoch seconds with fractions.
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    thread_id INTEGER REFERENCES annotations(id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('commit', 'experience', 'file')),
    target TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    mentions TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL,
    resolved_by TEXT,
    deleted_at REAL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_repo_target ON annotations (repo_id, target_kind, target);
CREATE INDEX IF NOT EXISTS annotations_thread ON annotations (thread_id);
CREATE INDEX IF NOT EXISTS annotations_repo_author ON annotations (repo_id, author);

CREATE TABLE IF NOT EXISTS annotation_changes (
    repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    annotation_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (repo_id, seq)
);

CREATE TABLE IF NOT EXISTS annotation_cursors (
    repo_id INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    last_seq INTEGER NOT NULL
);

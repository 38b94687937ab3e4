-- The engine's tables: repositories, their commits, file changes, hunks, experiences,
-- pattern occurrences and the full-text index over experiences (FTS5).
CREATE TABLE repositories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    url TEXT,
    default_branch TEXT,
    head_commit TEXT,
    commit_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_ingest_at INTEGER,
    last_ingest_seconds REAL
);

CREATE TABLE commits (
    id INTEGER PRIMARY KEY,
    repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    parents TEXT NOT NULL,
    author_name TEXT NOT NULL,
    author_email TEXT NOT NULL,
    author_time INTEGER NOT NULL,
    committer_name TEXT NOT NULL,
    committer_email TEXT NOT NULL,
    commit_time INTEGER NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    is_merge INTEGER NOT NULL,
    category TEXT NOT NULL,
    confidence REAL NOT NULL,
    files_changed INTEGER NOT NULL,
    lines_added INTEGER NOT NULL,
    lines_deleted INTEGER NOT NULL,
    UNIQUE (repo_id, hash)
);
CREATE INDEX commits_repo_time ON commits (repo_id, author_time);
CREATE INDEX commits_repo_author ON commits (repo_id, author_email);

CREATE TABLE file_changes (
    commit_id INTEGER NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    repo_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    old_path TEXT,
    change_type TEXT NOT NULL,
    added INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    is_binary INTEGER NOT NULL,
    language TEXT NOT NULL,
    skip_reason TEXT NOT NULL,
    PRIMARY KEY (commit_id, path)
) WITHOUT ROWID;
CREATE INDEX file_changes_repo_path ON file_changes (repo_id, path);

CREATE TABLE hunks (
    commit_id INTEGER NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    old_start INTEGER NOT NULL,
    old_lines INTEGER NOT NULL,
    new_start INTEGER NOT NULL,
    new_lines INTEGER NOT NULL,
    function TEXT NOT NULL
);
CREATE INDEX hunks_commit ON hunks (commit_id);

CREATE TABLE experiences (
    id INTEGER PRIMARY KEY,
    repo_id INTEGER NOT NULL,
    commit_id INTEGER NOT NULL UNIQUE REFERENCES commits(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    problem TEXT NOT NULL,
    solution TEXT NOT NULL,
    category TEXT NOT NULL,
    languages TEXT NOT NULL,
    tags TEXT NOT NULL,
    patterns TEXT NOT NULL,
    paths TEXT NOT NULL,
    functions TEXT NOT NULL,
    size INTEGER NOT NULL,
    author_name TEXT NOT NULL,
    author_email TEXT NOT NULL,
    authored_at INTEGER NOT NULL,
    links TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX experiences_repo_time ON experiences (repo_id, authored_at);

-- Standalone FTS5 table keyed by experiences.id (rowid); written in the same transaction.
CREATE VIRTUAL TABLE experience_fts USING fts5 (
    title, message, paths, functions, patterns, tags,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE pattern_occurrences (
    commit_id INTEGER NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    repo_id INTEGER NOT NULL,
    pattern TEXT NOT NULL,
    path TEXT NOT NULL,
    line INTEGER NOT NULL,
    snippet TEXT NOT NULL
);
CREATE INDEX pattern_occurrences_repo_pattern ON pattern_occurrences (repo_id, pattern);
CREATE INDEX pattern_occurrences_commit ON pattern_occurrences (commit_id);

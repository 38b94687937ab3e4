-- The engine's tables: repositories, their commits, file changes, hunks, experiences,
-- pattern occurrences; full-text search through a generated tsvector with a GIN index.
CREATE TABLE repositories (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    url TEXT,
    default_branch TEXT,
    head_commit TEXT,
    commit_count INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_ingest_at BIGINT,
    last_ingest_seconds DOUBLE PRECISION
);

CREATE TABLE commits (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    parents TEXT NOT NULL,
    author_name TEXT NOT NULL,
    author_email TEXT NOT NULL,
    author_time BIGINT NOT NULL,
    committer_name TEXT NOT NULL,
    committer_email TEXT NOT NULL,
    commit_time BIGINT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    is_merge INTEGER NOT NULL,
    category TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    files_changed INTEGER NOT NULL,
    lines_added INTEGER NOT NULL,
    lines_deleted INTEGER NOT NULL,
    UNIQUE (repo_id, hash)
);
CREATE INDEX commits_repo_time ON commits (repo_id, author_time);
CREATE INDEX commits_repo_author ON commits (repo_id, author_email);

CREATE TABLE file_changes (
    commit_id BIGINT NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    repo_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    old_path TEXT,
    change_type TEXT NOT NULL,
    added INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    is_binary INTEGER NOT NULL,
    language TEXT NOT NULL,
    skip_reason TEXT NOT NULL,
    PRIMARY KEY (commit_id, path)
);
CREATE INDEX file_changes_repo_path ON file_changes (repo_id, path);

CREATE TABLE hunks (
    commit_id BIGINT NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    old_start INTEGER NOT NULL,
    old_lines INTEGER NOT NULL,
    new_start INTEGER NOT NULL,
    new_lines INTEGER NOT NULL,
    function TEXT NOT NULL
);
CREATE INDEX hunks_commit ON hunks (commit_id);

CREATE TABLE experiences (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL,
    commit_id BIGINT NOT NULL UNIQUE REFERENCES commits(id) ON DELETE CASCADE,
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
    authored_at BIGINT NOT NULL,
    links TEXT NOT NULL,
    message TEXT NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', left(message, 20000)), 'B')
        || setweight(to_tsvector('english', patterns || ' ' || tags), 'B')
        || setweight(to_tsvector('english',
               regexp_replace(left(paths || ' ' || functions, 20000), '[/._-]+', ' ', 'g')), 'C')
    ) STORED
);
CREATE INDEX experiences_repo_time ON experiences (repo_id, authored_at);
CREATE INDEX experiences_search ON experiences USING GIN (search_vector);

CREATE TABLE pattern_occurrences (
    commit_id BIGINT NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    repo_id BIGINT NOT NULL,
    pattern TEXT NOT NULL,
    path TEXT NOT NULL,
    line INTEGER NOT NULL,
    snippet TEXT NOT NULL
);
CREATE INDEX pattern_occurrences_repo_pattern ON pattern_occurrences (repo_id, pattern);
CREATE INDEX pattern_occurrences_commit ON pattern_occurrences (commit_id);

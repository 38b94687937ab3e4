-- Impact lists (ades.storage.search_impacts): for every word in at least a thousand
-- experiences, each repository's best-ranked experiences for that word alone, with their
-- exact ts_rank_cd score, so that a one-word search reads a page from an index instead of
-- ranking tens of thousands of matches. Filled by the first ingest after this migration
-- (until then every search ranks from the GIN index, as before).
-- Each word with its own tsquery, parsed once per rebuild rather than once per posting.
CREATE TABLE search_heavy_lexemes (
    lexeme TEXT PRIMARY KEY,
    query tsquery NOT NULL
);

CREATE TABLE search_impacts (
    lexeme TEXT NOT NULL,
    experience_id BIGINT NOT NULL REFERENCES experience_search(experience_id) ON DELETE CASCADE,
    repo_id BIGINT NOT NULL,
    score REAL NOT NULL,
    authored_at BIGINT NOT NULL
);

-- For the cascade when experiences are deleted.
CREATE INDEX search_impacts_experience ON search_impacts (experience_id);

-- In search order: score, then newer first, then lower id; one for all repositories, one
-- for a search restricted to one.
CREATE INDEX search_impacts_rank ON search_impacts (lexeme, score DESC, authored_at DESC, experience_id);
CREATE INDEX search_impacts_repository_rank ON search_impacts (repo_id, lexeme, score DESC, authored_at DESC, experience_id);

CREATE TABLE search_impact_builds (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    experiences BIGINT NOT NULL,
    heavy_documents INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    built_at BIGINT NOT NULL
);

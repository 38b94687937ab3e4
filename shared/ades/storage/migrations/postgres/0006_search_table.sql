-- Search reads a narrow table instead of the wide experiences rows: ranking a common word's
-- tens of thousands of matches then touches a quarter of the pages (about 2x faster on
-- git/git). Trailer lines (Signed-off-by:, Reviewed-by:, Cc: ...) are not indexed: they
-- hold names and addresses, are in nearly every commit of some projects, and made a search
-- for "signed" rank every experience (people are found with the author filter).
CREATE FUNCTION ades_search_vector(title TEXT, message TEXT, patterns TEXT, tags TEXT,
                                   paths TEXT, functions TEXT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('english'::regconfig, title), 'A')
        || setweight(to_tsvector('english'::regconfig, left(
               regexp_replace(message, '^([A-Za-z][A-Za-z-]*-by|Cc): .*$', '', 'gn'), 20000)), 'B')
        || setweight(to_tsvector('english'::regconfig, patterns || ' ' || tags), 'B')
        || setweight(to_tsvector('english'::regconfig,
               regexp_replace(left(paths || ' ' || functions, 20000), '[/._-]+', ' ', 'g')), 'C');

CREATE TABLE experience_search (
    experience_id BIGINT PRIMARY KEY REFERENCES experiences(id) ON DELETE CASCADE,
    repo_id BIGINT NOT NULL,
    authored_at BIGINT NOT NULL,
    category TEXT NOT NULL,
    vector tsvector NOT NULL
);

INSERT INTO experience_search (experience_id, repo_id, authored_at, category, vector)
SELECT id, repo_id, authored_at, category,
       ades_search_vector(title, message, patterns, tags, paths, functions)
FROM experiences;

CREATE INDEX experience_search_vector ON experience_search USING GIN (vector);
CREATE INDEX experience_search_repo ON experience_search (repo_id);
-- Without statistics the planner takes any word for a rare one until autovacuum comes by.
ANALYZE experience_search;

DROP INDEX experiences_search;
ALTER TABLE experiences DROP COLUMN search_vector;

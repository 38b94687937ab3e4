"""Impact lists answer one-word searches exactly as ranking every match does (PostgreSQL).

Each check runs the same search twice on a real database: once as users get it (from the
lists when the query is one heavy word) and once with the lists switched off (ts_rank_cd over
every GIN match), and requires the same rows in the same order with the same scores: after a
build, after incremental ingests that only add, after history is rewritten (pruned), across
two repositories, filtered and not, at every page the lists cover and beyond.
"""

from __future__ import annotations

import random

import pytest
from ades import search
from ades.mining.ingest import ingest_repository
from ades.search import SearchFilters
from ades.storage import open_store, search_impacts
from gitrepos import RepoBuilder

# Words that recur across commits in different fields and counts, so that scores differ
# and tie (same score, then newer first, then lower id) in many ways.
_WORDS = ["cache", "parser", "retry", "index", "socket", "merge", "buffer", "token"]
HEAVY, DEPTH = 4, 5


def _history(builder: RepoBuilder, rng: random.Random, commits: int, start: int) -> None:
    for n in range(start, start + commits):
        title = " ".join(rng.sample(_WORDS, rng.randint(1, 3)))
        body = " ".join(rng.choice(_WORDS + ["the", "fix", "of"]) for _ in range(rng.randint(0, 12)))
        name = rng.choice(_WORDS)
        builder.write(f"src/{name}_{n % 7}.c", f"int {name}_{n}(void) {{ return {n}; }}\n")
        builder.commit(f"Fix {title} handling {n}\n\n{body}\n", date=1_600_000_000 + n * 3600)


def _from_lists(store, word: str, repo: str | None, limit: int, offset: int) -> bool:
    """Whether the lists hold this page: the words are one heavy lexeme, the page lies within
    the lists' depth and the repository's (or every repository's) list reaches it."""
    lexemes = store.query_one("SELECT tsvector_to_array(to_tsvector('english', ?))", [word])[0]
    if len(lexemes) != 1 or offset + limit > DEPTH:
        return False
    (listed,) = store.query_one(
        "SELECT COUNT(*) FROM search_impacts i JOIN search_heavy_lexemes h USING (lexeme) "
        "JOIN repositories r ON r.id = i.repo_id WHERE i.lexeme = ? AND (? OR r.name = ?)",
        [lexemes[0], repo is None, repo])
    return listed > offset


def _pages(store, repos: list[str | None]) -> int:
    """Compare every word, filter and page both ways; returns how many the lists held."""
    from_lists = 0
    for word in _WORDS + ["caching", "cache cache", "the cache", "nothingmatches"]:
        for repo in repos:
            for offset, limit in ((0, 1), (0, 3), (2, 3), (4, 1), (0, 5), (3, 4), (0, 100)):
                filters = SearchFilters(repo=repo)
                fast = search.search_experiences(store, word, filters, limit=limit,
                                                 offset=offset)
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(search, "_may_use_impacts", lambda f: False)
                    ranked = search.search_experiences(store, word, filters, limit=limit,
                                                       offset=offset)
                assert fast == ranked, (word, repo, offset, limit)
                from_lists += _from_lists(store, word, repo, limit, offset)
    return from_lists


@pytest.fixture
def small_lists(monkeypatch):
    """Lists for words in HEAVY experiences, DEPTH deep: a test history has few."""
    monkeypatch.setattr(search_impacts, "HEAVY_DOCUMENTS", HEAVY)
    monkeypatch.setattr(search_impacts, "DEPTH", DEPTH)


@pytest.fixture
def two_repos(tmp_path):
    rng = random.Random(7)
    repos = []
    for name, count in (("alpha", 40), ("beta", 25)):
        builder = RepoBuilder(tmp_path / name)
        _history(builder, rng, count, 0)
        repos.append(builder)
    return repos, rng


def test_lists_answer_as_ranking_every_match_does(postgres_url, two_repos, small_lists):
    (alpha, beta), rng = two_repos
    with open_store(postgres_url) as store:
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        ingest_repository(store, str(beta.path), name="beta", shards=1)
        build = search_impacts.rebuild(store)
        assert build.depth == DEPTH and build.experiences > 60
        heavy = {w for (w,) in store.query("SELECT lexeme FROM search_heavy_lexemes")}
        assert {"cach", "parser", "retri"} <= heavy
        # Every list holds exactly its repository's best DEPTH after a build.
        sizes = store.query("SELECT repo_id, lexeme, COUNT(*) FROM search_impacts "
                            "GROUP BY repo_id, lexeme")
        assert sizes and max(n for _, _, n in sizes) == DEPTH
        assert _pages(store, [None, "alpha", "beta"]) > 100

        # Incremental ingests only add rows: the lists stay supersets of the best.
        _history(alpha, rng, 12, 40)
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        assert search_impacts.current_build(store) == build  # not due: far below a tenth of 1,000
        assert _pages(store, [None, "alpha", "beta"]) > 100

        # Rewritten history: pruned experiences leave room that the rebuilt lists fill.
        alpha.git("reset", "-q", "--hard", "HEAD~30")
        _history(alpha, rng, 3, 100)
        result = ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        assert result.pruned_commits == 30
        assert _pages(store, [None, "alpha", "beta"]) > 100


def test_one_statement_reads_the_lists_only_for_the_pages_they_hold(postgres_url, two_repos,
                                                                    small_lists):
    """Scores raised by 100 in the lists show which branch of the search's one statement
    answered: the lists for a heavy word's pages within their depth, the GIN ranking for
    deeper pages, for two words, and for a repository whose list lacks the word."""
    (alpha, beta), _ = two_repos
    with open_store(postgres_url) as store:
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        ingest_repository(store, str(beta.path), name="beta", shards=1)
        search_impacts.rebuild(store)
        with store.transaction() as tx:
            tx.execute("UPDATE search_impacts SET score = score + 100")
            tx.execute("DELETE FROM search_impacts WHERE lexeme = 'cach' AND repo_id = "
                       "(SELECT id FROM repositories WHERE name = 'beta')")

        def scores(words, repo, limit, offset):
            found = search.search_experiences(store, words, SearchFilters(repo=repo),
                                              limit=limit, offset=offset)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(search, "_may_use_impacts", lambda f: False)
                ranked = search.search_experiences(store, words, SearchFilters(repo=repo),
                                                   limit=limit, offset=offset)
            assert found and all(r.match_mode == "all" for r in found)
            return [r.score for r in found], found == ranked

        for repo in (None, "alpha"):
            listed, _ = scores("cache", repo, DEPTH, 0)
            assert min(listed) > 100, repo
            ranked, same = scores("cache", repo, 2, DEPTH - 1)
            assert max(ranked) < 100 and same, repo
        ranked, same = scores("cache", "beta", DEPTH, 0)  # beta's list lacks the word
        assert max(ranked) < 100 and same
        ranked, same = scores("cache parser", "alpha", 3, 0)
        assert max(ranked) < 100 and same
        assert search.search_experiences(store, "cache", SearchFilters(repo="gamma")) == []


def test_a_deleted_repository_takes_its_lists_along(postgres_url, two_repos, small_lists):
    from ades.storage.repositories import delete_repository, get_repository

    (alpha, beta), _ = two_repos
    with open_store(postgres_url) as store:
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        ingest_repository(store, str(beta.path), name="beta", shards=1)
        search_impacts.rebuild(store)
        delete_repository(store, get_repository(store, "beta").id)
        assert store.query_one("SELECT COUNT(DISTINCT repo_id) FROM search_impacts")[0] == 1
        assert _pages(store, [None, "alpha", "beta"]) > 50


def test_refresh_builds_when_the_history_changed_by_a_tenth(postgres_url, two_repos, monkeypatch):
    (alpha, beta), rng = two_repos
    monkeypatch.setattr(search_impacts, "HEAVY_DOCUMENTS", 30)
    monkeypatch.setattr(search_impacts, "REBUILD_MIN_CHANGE", 10)
    with open_store(postgres_url) as store:
        ingest_repository(store, str(beta.path), name="beta", shards=1)
        assert search_impacts.current_build(store) is None  # fewer experiences than 30
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        first = search_impacts.current_build(store)
        assert first is not None and first.heavy_documents == 30
        assert first.experiences == store.query_one("SELECT COUNT(*) FROM experience_search")[0]
        _history(alpha, rng, 4, 40)  # fewer than 10 more: the lists are only added to
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        assert search_impacts.current_build(store) == first
        _history(alpha, rng, 10, 44)
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        assert search_impacts.current_build(store).experiences == first.experiences + 14


def test_sqlite_has_no_lists(tmp_path, two_repos):
    (alpha, _), _ = two_repos
    with open_store(f"sqlite:///{tmp_path}/ades.db") as store:
        ingest_repository(store, str(alpha.path), name="alpha", shards=1)
        assert search_impacts.refresh(store) is None
        assert search_impacts.current_build(store) is None
        assert search.search_experiences(store, "cache")


def test_cli_reindex_search(ades_env, backend, two_repos):
    """`ades db reindex-search` rebuilds the lists on PostgreSQL, says there are none on
    SQLite, and refuses with one line when there is no database yet."""
    from test_cli_inputs import ades, one_line_error

    (alpha, _), _ = two_repos
    if backend == "sqlite":
        one_line_error(ades(ades_env, "db", "reindex-search"), code=3)
    ades(ades_env, "ingest", str(alpha.path), "--name", "alpha", "--no-progress", check=True)
    out = ades(ades_env, "db", "reindex-search", check=True).stdout
    if backend == "sqlite":
        assert "no impact lists" in out
        return
    assert out.startswith("impact lists rebuilt: ") and "over 40 experiences" in out, out
    with open_store(ades_env["GAIT_POSTGRES_URL"]) as store:
        assert search_impacts.current_build(store).experiences == 40

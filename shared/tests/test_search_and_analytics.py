"""Search finds the right experience and says why; analytics agree with git's own numbers."""

from __future__ import annotations

import collections
import subprocess

import pytest
from ades import analytics
from ades.mining.ingest import ingest_repository
from ades.search import SearchError, SearchFilters, search_experiences
from ades.storage import open_store
from ades.storage.repositories import get_repository
from gitrepos import git_truth, make_realistic_repo


@pytest.fixture(scope="module")
def realistic_repo(tmp_path_factory):
    return make_realistic_repo(tmp_path_factory.mktemp("realistic") / "repo")


@pytest.fixture
def store(backend, tmp_path, request, realistic_repo):
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/ades.db"
    with open_store(url) as s:
        ingest_repository(s, str(realistic_repo), name="orders", shards=1)
        yield s


def _repo_id(store):
    return get_repository(store, "orders").id


def test_search_finds_the_retry_work_and_explains_the_match(store):
    results = search_experiences(store, "retry backoff")
    assert results, "expected the HTTP retry commit"
    top = results[0]
    assert len(top.commit) == 40
    assert "retry" in top.title.lower()
    assert "title" in top.matched
    assert top.why and top.match_mode == "all"
    assert all(results[i].score >= results[i + 1].score for i in range(len(results) - 1))


def test_search_falls_back_to_any_word_and_says_so(store):
    results = search_experiences(store, "backoff zzzunmatchedword")
    assert results and all(r.match_mode == "any" for r in results)
    assert "some words" in results[0].why


def test_search_filters_narrow_the_results(store):
    every = search_experiences(store, "add", limit=50)
    bugfixes = search_experiences(store, "add", SearchFilters(category="feature"), limit=50)
    assert bugfixes and all(r.category == "feature" for r in bugfixes)
    assert len(bugfixes) <= len(every)
    python = search_experiences(store, "retry", SearchFilters(language="python"), limit=50)
    assert python and all("python" in r.languages for r in python)
    assert search_experiences(store, "retry", SearchFilters(repo="nosuch")) == []
    assert search_experiences(store, "retry", SearchFilters(since=4_000_000_000)) == []


@pytest.mark.parametrize("query", ["", "   ", "!!! ??? ***"])
def test_a_query_without_words_is_rejected(store, query):
    with pytest.raises(SearchError):
        search_experiences(store, query)


@pytest.mark.parametrize("query", ['"unbalanced', "a OR", "NEAR(x y)", "col:title", "x*", "-x",
                                   "'; DROP TABLE commits; --"])
def test_query_syntax_in_user_input_is_treated_as_words(store, query):
    search_experiences(store, query)  # no error: operators are never passed through
    assert store.query_one("SELECT COUNT(*) FROM commits")[0] > 0


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def test_file_change_counts_equal_git_for_every_path(store, realistic_repo):
    truth = git_truth(realistic_repo)["file_counts"]
    ours = dict(analytics.file_change_counts(store, _repo_id(store)))
    assert ours == truth


def test_co_changes_equal_commits_that_touched_both_files(store, realistic_repo):
    out = _git(realistic_repo, "log", "--no-merges", "--no-renames", "--format=%x00", "--name-only", "-z")
    commits = [set(p for p in chunk.decode().split("\0") if p.strip("\n")) for chunk in out.split(b"\0\0")]
    commits = [{p.strip("\n") for p in c} - {""} for c in commits]
    commits = [c for c in commits if c and len(c) <= analytics.MAX_COUPLING_COMMIT_FILES]
    path = collections.Counter(p for c in commits for p in c).most_common(1)[0][0]
    with_path = [c for c in commits if path in c]
    expected = collections.Counter(p for c in with_path for p in c if p != path)
    result = analytics.co_changes(store, _repo_id(store), path, limit=100, min_support=1)
    assert {r["path"]: r["support"] for r in result} == dict(expected)
    for r in result:
        assert r["confidence"] == round(r["support"] / len(with_path), 4)


def test_weekly_activity_counts_equal_git_author_dates(store, realistic_repo):
    times = [int(t) for t in _git(realistic_repo, "log", "--format=%at").split()]
    week, origin = analytics.WEEK, 4 * 86400
    expected = collections.Counter((t - origin) // week * week + origin for t in times)
    ours = {w["week_start"]: w["commits"] for w in analytics.weekly_activity(store, _repo_id(store))}
    assert ours == dict(expected)


def test_ownership_shares_add_up_and_bus_factor_is_at_least_one(store):
    own = analytics.ownership(store, _repo_id(store))
    assert own["bus_factor"] >= 1
    assert abs(sum(o["share"] for o in own["owners"]) - 1.0) < 0.01 or own["authors"] > len(own["owners"])


def test_hotspots_list_only_files_that_still_exist(store, realistic_repo):
    live = set(_git(realistic_repo, "ls-files", "-z").decode().split("\0"))
    spots = analytics.hotspots(store, _repo_id(store), limit=10)
    assert spots
    assert all(s["path"] in live for s in spots)
    assert spots == sorted(spots, key=lambda s: (-s["score"], s["path"]))


def test_forecast_follows_a_linear_trend():
    result = analytics.forecast_weekly([float(x) for x in range(10)], horizon=3)
    assert [p["value"] for p in result["points"]] == [10.0, 11.0, 12.0]
    assert all(p["low"] <= p["value"] <= p["high"] for p in result["points"])

"""Insights computed from histories built for them: coupled directories, a growing hotspot,
a rising bugfix ratio and a directory that depends on one person."""

from __future__ import annotations

from ades.mining.ingest import ingest_repository
from ades.storage import open_store
from gitrepos import RepoBuilder

from services.ui.api_patterns import compute_insights, cross_module_coupling

DAY = 86_400
START = 1_700_000_000
ALICE, BOB = ("Alice", "alice@example.com"), ("Bob", "bob@example.com")


def _ingested(tmp_path, repo: RepoBuilder):
    store = open_store(f"sqlite:///{tmp_path / 'ades.db'}")
    result = ingest_repository(store, str(repo.path), name="repo", shards=1)
    return store, store.query_one("SELECT id FROM repositories WHERE name = ?", (result.repository,))[0]


def test_directories_changed_in_the_same_commits_are_reported_as_coupled(tmp_path):
    repo = RepoBuilder(tmp_path / "repo")
    for i in range(6):
        repo.write("api/handlers.py", f"VERSION = {i}\n")
        repo.write("db/schema.sql", f"-- version {i}\n")
        repo.commit(f"Change the API and the schema together ({i})")
    for i in range(6):
        repo.write("docs/guide.md", f"Guide {i}\n")
        repo.commit(f"Edit the guide ({i})")
    repo.write("api/handlers.py", "VERSION = 99\n")
    repo.write("docs/guide.md", "Guide 99\n")
    repo.commit("Document the new version")
    store, repo_id = _ingested(tmp_path, repo)
    with store:
        found = cross_module_coupling(store, repo_id)
    assert [(f["paths"], f["support"], f["confidence"]) for f in found] == [(["api/", "db/"], 6, 1.0)]


def test_a_hotspot_heating_up_more_bug_fixes_and_a_one_person_directory_are_reported(tmp_path):
    repo = RepoBuilder(tmp_path / "repo")
    when = START
    for i in range(4):  # 150-100 days before the end: features, shared by two people
        when += 10 * DAY
        repo.write("core/engine.py", f"STEP = {i}\n")
        repo.commit(f"Add engine step {i}", author=ALICE if i % 2 else BOB, date=when)
    when = START + 100 * DAY
    for i in range(6):  # the last 90 days: fixes to the same file, all by Alice
        when += 10 * DAY
        repo.write("core/engine.py", f"STEP = {i}  # fixed\n")
        repo.write("solo/tool.py", f"FIXES = {i}\n")
        repo.commit(f"Fix crash in engine step {i}", author=ALICE, date=when)
    store, repo_id = _ingested(tmp_path, repo)
    with store:
        found = {(f["kind"], f.get("path")) for f in compute_insights(store, repo_id)}
    assert ("growing_hotspot", "core/engine.py") in found
    assert ("rising_bugfix_ratio", None) in found
    assert ("bus_factor_one", "core/") in found and ("bus_factor_one", "solo/") in found

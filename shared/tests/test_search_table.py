"""The search index: trailer lines are not searched (both engines), PostgreSQL's narrow search
table follows every write and delete, and migration 0006 fills it for an existing database."""

from __future__ import annotations

import pytest
from ades.mining.ingest import ingest_repository
from ades.search import SearchFilters, search_experiences
from ades.storage import open_store
from ades.storage.history import searchable_message
from ades.storage.migrations import _statements, available_migrations, upgrade
from ades.storage.repositories import get_repository
from gitrepos import RepoBuilder

_MESSAGE = ("Teach the packer to reuse deltas\n\nThe packer recomputed every delta.\n\n"
            "Signed-off-by: Zelda Quuxington <zq@example.com>\n"
            "Reviewed-by: Orvil Plimsoll <op@example.com>\nCc: Mabel Snodgrass <ms@example.com>\n")


@pytest.fixture
def repo(tmp_path):
    builder = RepoBuilder(tmp_path / "repo")
    builder.write("pack.c", "int reuse_delta(void) { return 1; }\n")
    builder.commit(_MESSAGE)
    builder.write("README", "packs\n")
    builder.commit("Document the packer's delta reuse\n\nSigned-off-by: Zelda Quuxington <zq@example.com>\n")
    return builder.path


@pytest.fixture
def store_url(backend, tmp_path, request):
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/ades.db"


def test_trailer_lines_are_not_searched_but_the_message_is(store_url, repo):
    with open_store(store_url) as store:
        ingest_repository(store, str(repo), name="packer", shards=1)
        for name in ("quuxington", "plimsoll", "snodgrass", "signed", "reviewed"):
            assert search_experiences(store, name) == [], name
        found = search_experiences(store, "recomputed delta")
        assert [r.title for r in found] == ["Teach the packer to reuse deltas"]
        # The stored message keeps its trailers: only the index leaves them out.
        message = store.query_one("SELECT message FROM experiences WHERE title = ?", (found[0].title,))[0]
        assert "Signed-off-by: Zelda Quuxington" in message


def test_searchable_message_drops_only_trailer_lines():
    text = searchable_message(_MESSAGE)
    assert "Zelda" not in text and "Orvil" not in text and "Mabel" not in text
    assert "The packer recomputed every delta." in text
    # A sentence that merely contains "-by:" mid-line is kept.
    assert searchable_message("Fixed-by: a\nwas caused-by: b") == "\nwas caused-by: b"


def test_postgres_search_table_follows_ingest_and_delete(postgres_url, repo):
    with open_store(postgres_url) as store:
        ingest_repository(store, str(repo), name="packer", shards=1)
        repo_id = get_repository(store, "packer").id
        count = "SELECT COUNT(*) FROM {} WHERE repo_id = ?"
        experiences = store.query_one(count.format("experiences"), (repo_id,))[0]
        assert experiences == 2
        assert store.query_one(count.format("experience_search"), (repo_id,))[0] == experiences
        assert len(search_experiences(store, "delta", SearchFilters(repo="packer"))) == 2
        assert search_experiences(store, "delta", SearchFilters(repo="elsewhere")) == []
        with store.transaction() as tx:
            tx.execute("DELETE FROM commits WHERE repo_id = ?", (repo_id,))
        assert store.query_one(count.format("experience_search"), (repo_id,))[0] == 0
        assert search_experiences(store, "delta") == []


def test_migration_0006_fills_the_search_table_of_an_existing_database(postgres_url):
    """A database at version 5 with experiences in it: upgrading makes them searchable."""
    with open_store(postgres_url, migrate=False) as store:
        with store.transaction() as tx:
            tx.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                       "name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            for migration in available_migrations("postgres"):
                if migration.version > 5:
                    break
                for statement in _statements(migration.sql):
                    tx.cursor.execute(statement)
                tx.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)",
                           (migration.version, migration.name))
            tx.execute("INSERT INTO repositories (id, name, path, created_at) VALUES (1, 'old', '/old', 0)")
            tx.execute("INSERT INTO commits (id, repo_id, hash, parents, author_name, author_email, "
                       "author_time, committer_name, committer_email, commit_time, subject, body, "
                       "is_merge, category, confidence, files_changed, lines_added, lines_deleted) "
                       "VALUES (1, 1, ?, '', 'A', 'a@x', 100, 'A', 'a@x', 100, 'Speed up the walker', "
                       "'', 0, 'performance', 0.9, 1, 1, 0)", ("a" * 40,))
            tx.execute("INSERT INTO experiences (repo_id, commit_id, title, problem, solution, "
                       "category, languages, tags, patterns, paths, functions, size, author_name, "
                       "author_email, authored_at, links, message) VALUES (1, 1, "
                       "'Speed up the walker', '', '', 'performance', 'c', '', '', 'walker.c', "
                       "'walk_tree', 1, 'A', 'a@x', 100, '{}', "
                       "'Speed up the walker\n\nSigned-off-by: Zelda Quuxington <zq@x>')")
        applied = [m.version for m in upgrade(store)]
        assert 6 in applied
        found = search_experiences(store, "walker")
        assert [r.commit for r in found] == ["a" * 40]
        assert search_experiences(store, "walk_tree") or search_experiences(store, "walk tree")
        assert search_experiences(store, "quuxington") == []

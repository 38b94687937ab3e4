"""A commit's detail (rows and diff) is computed once per full hash and repository generation;
prefixes are still resolved by the database, errors are never cached, and a diff git cannot
give any more is None, not a 500."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import pytest
import redis

from services.conftest import log_in, ui_with_zoo
from services.ui import create_app

REDIS_URL = "redis://127.0.0.1:6379/9"


def _zoo_history(repo) -> None:
    """Four commits, one of them Latin-1."""
    repo.write("README.md", "A zoo.\n")
    repo.commit("Open the zoo")
    repo.write("animals.txt", "zebra\n")
    repo.commit("Add a zebra")
    repo.write("notes.txt", "caf\xe9\n".encode("latin-1"))
    repo.commit("Add Latin-1 notes")
    repo.rename("animals.txt", "zoo/animals.txt")
    repo.commit("Move the animals")


def _ingested_zoo(make_service, overrides):
    """A ui app with alice logged in and "zoo" (four commits, one of them Latin-1) ingested."""
    app, client, repo, _ = ui_with_zoo(make_service, overrides, _zoo_history)
    return app, client, repo


def _detail(client, ref: str, status: int = 200) -> dict:
    response = client.get(f"/api/repositories/zoo/commits/{ref}")
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def _show(repo, commit: str) -> str:
    return repo.git("show", "--no-color", "--no-ext-diff", "--format=", "--patch", commit).decode(
        "utf-8", "replace")


@pytest.fixture
def zoo(make_service, service_overrides):
    return _ingested_zoo(make_service, service_overrides)


def test_a_commit_is_answered_from_the_cache_once_computed_even_after_its_repository_is_gone(zoo):
    from ades.optimizer import query_cache

    app, client, repo = zoo
    latin1 = repo.rev("HEAD~1")
    first = _detail(client, latin1)["commit"]
    assert first["diff"] == _show(repo, latin1) and "caf\ufffd" in first["diff"]
    assert first["diff_truncated"] is False and first["hash"] == latin1
    shutil.rmtree(repo.path)  # neither git nor the diff process could answer now
    before = query_cache(app).stats()
    assert _detail(client, latin1.upper())["commit"] == first
    after = query_cache(app).stats()
    assert after.hits > before.hits and after.misses == before.misses


def test_a_prefix_is_resolved_by_the_database_and_then_shares_the_full_hashs_entry(zoo):
    from ades.optimizer import query_cache

    app, client, repo = zoo
    head = repo.head()
    full = _detail(client, head)["commit"]
    before = query_cache(app).stats()
    assert _detail(client, head[:7])["commit"] == full
    after = query_cache(app).stats()
    assert after.hits == before.hits + 1 and after.misses == before.misses


def test_the_experience_endpoint_shares_the_cache_without_a_diff(zoo):
    _, client, repo = zoo
    head = repo.head()
    assert "diff" in _detail(client, head)["commit"]
    response = client.get(f"/api/experiences/zoo/{head}")
    assert response.status_code in (200, 404), response.get_data(as_text=True)
    assert "diff" not in response.get_data(as_text=True)


def test_unknown_and_bad_refs_are_not_cached(zoo):
    from ades.optimizer import query_cache

    app, client, repo = zoo
    _detail(client, repo.head())
    size = len(query_cache(app).cache)
    _detail(client, "0" * 40, 404)
    _detail(client, "0" * 40, 404)
    _detail(client, "0000", 404)
    _detail(client, "xyz", 400)
    assert len(query_cache(app).cache) == size


def test_an_ambiguous_prefix_stays_a_400_after_both_commits_were_cached(zoo):
    from ades.service import service_context
    from ades.worker import run_worker

    app, client, repo = zoo
    first, second = _two_commits_sharing_a_prefix(repo)
    assert client.post("/api/repositories/zoo/ingest").status_code == 202
    run_worker(service_context(app).stores.get().inner, service_context(app).config, once=True,
               lease_seconds=10)
    for commit in (first, second):
        assert _detail(client, commit)["commit"]["hash"] == commit
    body = _detail(client, first[:4], 400)
    assert "ambiguous" in body["error"]


def _two_commits_sharing_a_prefix(repo) -> tuple[str, str]:
    """Append two empty commits to main, the second sharing its first 4 digits with the first."""
    template = repo.git("cat-file", "commit", "HEAD")
    headers = template.split(b"\n\n", 1)[0].split(b"\n")
    tree, rest = headers[0], [h for h in headers[1:] if not h.startswith(b"parent ")]

    def body(parent: str, message: str) -> bytes:
        return b"\n".join([tree, b"parent " + parent.encode(), *rest]) + b"\n\n" + message.encode()

    def object_id(data: bytes) -> str:
        return hashlib.sha1(b"commit %d\0" % len(data) + data, usedforsecurity=False).hexdigest()

    first_body = body(repo.head(), "Empty one\n")
    first = object_id(first_body)
    n = 0
    while not object_id(body(first, f"Empty two {n}\n")).startswith(first[:4]):
        n += 1
    second_body = body(first, f"Empty two {n}\n")
    for data in (first_body, second_body):
        written = repo.git("hash-object", "-t", "commit", "-w", "--stdin", input=data)
        assert written.decode().strip() == object_id(data)
    second = object_id(second_body)
    repo.git("update-ref", "refs/heads/main", second)
    return first, second


def test_a_diff_git_cannot_give_is_none_without_a_traceback(make_service, service_overrides, caplog):
    """The repository vanishes before the first request: diff-tree dies, git show fails."""
    app, client, repo = _ingested_zoo(make_service, service_overrides)
    shutil.move(repo.path, repo.path.with_name("zoo-moved"))
    caplog.set_level(logging.INFO)
    commit = _detail(client, _stored_head(app))["commit"]
    assert commit["diff"] is None and commit["diff_truncated"] is False
    assert commit["files"]
    assert all(record.exc_info is None for record in caplog.records)


def _stored_head(app) -> str:
    from ades.service import service_context

    store = service_context(app).stores.get().inner
    return store.query_one("SELECT head_commit FROM repositories WHERE name = 'zoo'")[0]


def test_a_commit_detail_survives_json_and_is_shared_through_redis(make_service, service_overrides):
    """Two apps on one Redis are two workers: the second answers from the first's entry."""
    from ades.optimizer import query_cache

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    overrides = {**service_overrides, "server": {**service_overrides["server"], "redis_url": REDIS_URL}}
    apps = []
    try:
        app, first_client, repo = _ingested_zoo(make_service, overrides)
        apps.append(app)
        head = repo.head()
        detail = _detail(first_client, head)["commit"]
        assert json.loads(json.dumps(detail)) == detail
        shared = query_cache(app).shared.stats()
        assert shared["writes"] >= 1 and shared["skipped"] == 0
        other = make_service(create_app, overrides)
        apps.append(other)
        other_client = other.test_client()
        log_in(other_client, "vera")
        shutil.rmtree(repo.path)  # the second worker cannot compute the diff itself
        assert _detail(other_client, head)["commit"] == detail
        assert query_cache(other).shared.stats()["hits"] >= 1
    finally:
        for each in apps:
            query_cache(each).shared.close()  # its own connection pool; the app closes the rest
        keys = client.keys("ades:*")
        if keys:
            client.delete(*keys)
        client.close()

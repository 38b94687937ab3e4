"""`/api/search` answers a repeated query from the query cache, and an ingest makes it fresh."""

from __future__ import annotations

from gitrepos import RepoBuilder

from services.conftest import log_in, seed_world
from services.ui import create_app


def _search(client, query: str) -> list[str]:
    response = client.get("/api/search", query_string={"q": query, "repo": "zoo"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["commit"] for r in response.get_json()["results"]]


def test_a_repeated_search_comes_from_the_cache_until_the_repository_is_ingested_again(
        make_service, service_overrides):
    from ades.optimizer import query_cache
    from ades.service import service_context
    from ades.worker import run_worker

    app = make_service(create_app, service_overrides)
    seed_world(app)
    context = service_context(app)
    repo = RepoBuilder(context.config.server.repo_roots[0] / "zoo")
    repo.write("README.md", "A zoo.\n")
    repo.commit("Open the zoo")
    client = app.test_client()
    log_in(client, "alice")
    client.environ_base["HTTP_X_CSRF_TOKEN"] = client.get("/api/auth/me").get_json()["csrf_token"]
    assert client.post("/api/repositories",
                       json={"name": "zoo", "path": str(repo.path)}).status_code == 202

    def ingest() -> None:
        run_worker(context.stores.get().inner, context.config, once=True, lease_seconds=10)

    ingest()
    assert _search(client, "zebra stripes") == []
    before = query_cache(app).stats()
    assert _search(client, "Zebra, stripes!") == []  # the same words: the same cached answer
    after = query_cache(app).stats()
    assert after.misses == before.misses and after.hits > before.hits

    repo.write("zebra.md", "Black and white.\n")
    added = repo.commit("Paint zebra stripes on the gate")
    assert client.post("/api/repositories/zoo/ingest").status_code == 202
    ingest()
    assert _search(client, "zebra stripes") == [added]

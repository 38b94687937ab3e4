"""`/api/search` answers a repeated query from the query cache, and an ingest makes it fresh."""

from __future__ import annotations

from services.conftest import ui_with_zoo


def _search(client, query: str) -> list[str]:
    response = client.get("/api/search", query_string={"q": query, "repo": "zoo"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["commit"] for r in response.get_json()["results"]]


def test_a_repeated_search_comes_from_the_cache_until_the_repository_is_ingested_again(
        make_service, service_overrides):
    from ades.optimizer import query_cache

    def history(repo) -> None:
        repo.write("README.md", "A zoo.\n")
        repo.commit("Open the zoo")

    app, client, repo, ingest = ui_with_zoo(make_service, service_overrides, history)
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

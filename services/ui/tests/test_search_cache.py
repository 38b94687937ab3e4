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


def test_a_cached_answer_is_byte_for_byte_what_jsonify_writes(make_service, service_overrides):
    """The results are serialized once and wrapped per request; the body must not differ
    from jsonify's (sorted keys, compact separators, ASCII escapes, trailing newline)."""
    from flask import jsonify

    def history(repo) -> None:
        repo.write("zebra.md", "Black and white.\n")
        repo.commit("Paint zébra stripes on the gate \"now\"")
        repo.write("lion.md", "Roar.\n")
        repo.commit("Feed the zébra and the lion")

    app, client, _, _ = ui_with_zoo(make_service, service_overrides, history)
    for args in ({"q": "zébra"}, {"q": "zébra", "limit": 1}, {"q": "zébra", "limit": 1, "offset": 1},
                 {"q": "no such words"}):
        first = client.get("/api/search", query_string=args)
        again = client.get("/api/search", query_string=args)  # from the cache
        assert first.status_code == again.status_code == 200
        assert first.mimetype == "application/json"
        with app.test_request_context():
            expected = jsonify(first.get_json()).get_data()
        assert first.get_data() == again.get_data() == expected
    page = client.get("/api/search", query_string={"q": "zébra", "limit": 1}).get_json()
    assert page["next_offset"] == 1 and len(page["results"]) == 1 and page["words"] == ["zébra"]

"""The IDE API: file context, review, search and similar changes over the "shop" history,
checked against git's own log; bearer tokens; bad input answered 4xx without a 500."""

from __future__ import annotations

import collections

import pytest
from gitrepos import git

from .conftest import OLGA, RITA


def _post(client, url, token, body):
    return client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})


def _git_co_changes(repo_path, path):
    """{other path: commits changing both} from `git log --name-only`, renames off."""
    raw = git(repo_path, "log", "--no-merges", "--no-renames", "--name-only", "--format=tformat:@",
              "HEAD").decode()
    together = collections.Counter()
    for block in raw.split("@")[1:]:
        files = {line for line in block.split("\n") if line}
        if path in files:
            together.update(files - {path})
    return together


def test_context_lists_co_changes_with_support_and_confidence_as_git_log_counts(ide, shop_repo):
    client, tokens = ide
    response = _post(client, "/ide/context", tokens["read"], {"repo": "shop", "path": "src/orders.py"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    truth = _git_co_changes(shop_repo.path, "src/orders.py")
    changes = 1 + sum(1 for _ in range(6))  # olga's first commit and rita's six
    expected = sorted(((p, n, round(n / changes, 4)) for p, n in truth.items() if n >= 2),
                      key=lambda t: (-t[1], t[0]))
    assert [(c["path"], c["support"], c["confidence"]) for c in body["co_changes"]] == expected
    assert expected[0][0] == "src/orders_db.py" and expected[0][1] == 6
    assert list(body)[:5] == ["repository", "path", "known", "summary", "risk"]
    assert body["history"]["changes"] == 7
    assert body["risk"]["fixes"] == 4 and 0 < body["risk"]["score"] <= 1


def test_context_ranks_the_recent_author_above_the_old_one_with_more_lines(ide):
    client, tokens = ide
    body = _post(client, "/ide/context", tokens["read"],
                 {"repo": "shop", "path": "src/orders.py"}).get_json()
    experts = body["experts"]
    assert [e["email"] for e in experts] == [RITA[1], OLGA[1]]
    assert experts[0]["share"] > experts[1]["share"]
    assert experts[0]["commits"] == 6 and experts[1]["commits"] == 1


def test_context_puts_fixes_touching_the_edited_lines_first(ide):
    client, tokens = ide
    body = _post(client, "/ide/context", tokens["read"],
                 {"repo": "shop", "path": "src/orders.py", "lines": [3, 12],
                  "symbol": "order_total"}).get_json()
    top = body["experiences"][0]
    assert top["category"] == "bugfix"
    assert "touched these lines" in top["why"]


def test_context_is_trimmed_to_the_token_budget(ide):
    client, tokens = ide
    body = _post(client, "/ide/context", tokens["read"],
                 {"repo": "shop", "path": "src/orders.py", "token_budget": 200}).get_json()
    assert body["budget"]["truncated"] is True
    assert body["budget"]["estimated_tokens"] <= 200 or body["experiences"] == []
    assert "co_changes" in body


def test_context_of_a_file_without_history_says_so(ide):
    client, tokens = ide
    body = _post(client, "/ide/context", tokens["read"],
                 {"repo": "shop", "path": "src/new_module.py"}).get_json()
    assert body["known"] is False
    assert body["co_changes"] == [] and body["experts"] == []


DIFF = """diff --git a/src/orders.py b/src/orders.py
--- a/src/orders.py
+++ b/src/orders.py
@@ -1,4 +1,5 @@ def order_total(items):
 def order_total(items):
+    # never trust '<script>alert(1)</script>' or "' OR 1=1 --" in item names
     total = 0
"""


def test_review_flags_the_missing_co_change_and_missing_tests_with_their_commits(ide, shop_repo):
    client, tokens = ide
    response = _post(client, "/ide/review", tokens["read"], {"repo": "shop", "diff": DIFF})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    by_kind = collections.defaultdict(list)
    for s in body["suggestions"]:
        by_kind[s["kind"]].append(s)
    missing = {s["related_path"]: s for s in by_kind["missing_co_change"]}
    assert set(missing) == {"src/orders_db.py", "tests/test_orders.py"}
    both = git(shop_repo.path, "log", "--format=%H", "--", "src/orders_db.py").decode().split()
    assert set(missing["src/orders_db.py"]["commits"]) <= set(both)
    assert missing["src/orders_db.py"]["severity"] == "warning"
    assert by_kind["missing_tests"][0]["confidence"] > 0.5
    assert by_kind["fix_prone_file"], body["suggestions"]
    assert all(s["severity"] in ("info", "warning", "critical") for s in body["suggestions"])
    assert 0 < body["risk"]["score"] <= 1


def test_review_with_the_co_changes_and_tests_included_has_no_such_suggestions(ide):
    client, tokens = ide
    diff = DIFF + DIFF.replace("src/orders.py", "src/orders_db.py") + DIFF.replace(
        "src/orders.py", "tests/test_orders.py")
    body = _post(client, "/ide/review", tokens["read"], {"repo": "shop", "diff": diff}).get_json()
    kinds = {s["kind"] for s in body["suggestions"]}
    assert "missing_co_change" not in kinds and "missing_tests" not in kinds


def test_search_returns_experiences_with_snippets(ide):
    client, tokens = ide
    response = client.get("/ide/search", query_string={"q": "rounding", "repo": "shop"},
                          headers={"Authorization": f"Bearer {tokens['read']}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert results and all("rounding" in r["title"] for r in results)
    assert all(r["snippet"] for r in results)


def test_similar_finds_the_changes_that_touched_the_same_function(ide):
    client, tokens = ide
    body = _post(client, "/ide/similar", tokens["read"],
                 {"repo": "shop", "text": "def order_total(items): # discount rounding"}
                 ).get_json()
    assert body["results"], body
    assert all("order" in r["title"] for r in body["results"][:3])


@pytest.mark.parametrize(("url", "body", "status", "fragment"), [
    ("/ide/context", {"path": "src/orders.py"}, 400, "repo"),
    ("/ide/context", {"repo": "nope", "path": "src/orders.py"}, 404, "nope"),
    ("/ide/context", {"repo": "shop", "path": 42}, 400, "path"),
    ("/ide/context", {"repo": "shop", "path": "/etc/passwd"}, 400, "path"),
    ("/ide/context", {"repo": "shop", "path": "a.py", "lines": [9, 2]}, 400, "lines"),
    ("/ide/context", {"repo": "shop", "path": "a.py", "token_budget": "many"}, 400, "token_budget"),
    ("/ide/context", ["not", "an", "object"], 400, "JSON object"),
    ("/ide/review", {"repo": "shop", "diff": "hello"}, 400, "diff"),
    ("/ide/review", {"repo": "shop", "diff": "--- a/x\n+++ b/x\n@@ bad @@\n"}, 400, "hunk"),
    ("/ide/similar", {"repo": "shop", "text": ""}, 400, "text"),
    ("/ide/similar", {"repo": "shop", "text": "x", "limit": 0}, 400, "limit"),
])
@pytest.mark.parametrize("backend", ["sqlite"])  # validation happens before any query
def test_bad_input_gets_a_one_line_4xx_error(ide, url, body, status, fragment):
    client, tokens = ide
    response = _post(client, url, tokens["read"], body)
    assert response.status_code == status, response.get_data(as_text=True)
    message = response.get_json()["error"]
    assert fragment in message and "\n" not in message


def test_search_without_words_is_a_400(ide):
    client, tokens = ide
    response = client.get("/ide/search", query_string={"q": "  ", "repo": "shop"},
                          headers={"Authorization": f"Bearer {tokens['read']}"})
    assert response.status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer revoked", "Bearer ades_not-a-real-token"])
@pytest.mark.parametrize("backend", ["sqlite"])  # the token check is the hardening's, on every backend
def test_context_without_a_valid_token_is_401(ide, header):
    client, tokens = ide
    headers = {} if header is None else {
        "Authorization": f"Bearer {tokens['revoked']}" if header == "Bearer revoked" else header}
    response = client.post("/ide/context", json={"repo": "shop", "path": "src/orders.py"},
                           headers=headers)
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_the_openapi_document_describes_the_ide_endpoints(ide):
    client, _ = ide
    paths = client.get("/openapi.json").get_json()["paths"]
    assert paths["/ide/context"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"] == ["repo", "path"]
    assert {"/ide/review", "/ide/search", "/ide/similar", "/mcp"} <= set(paths)


def test_context_is_served_from_the_cache_until_an_ingest_invalidates_it(ide, shop_repo, tmp_path):
    from ades.mining.ingest import ingest_repository
    from ades.optimizer import invalidate_repository, query_cache
    from ades.service import service_context
    from gitrepos import RepoBuilder

    client, tokens = ide
    app = client.application
    ask = {"repo": "shop", "path": "src/orders.py"}
    first = _post(client, "/ide/context", tokens["read"], ask).get_json()
    with app.app_context():
        hits = query_cache(app).stats().hits
    assert _post(client, "/ide/context", tokens["read"], ask).get_json() == first
    with app.app_context():
        assert query_cache(app).stats().hits > hits

    git(tmp_path, "clone", "-q", str(shop_repo.path), "clone")
    clone = RepoBuilder(tmp_path / "clone")
    clone.write("src/orders.py", "def order_total(items):\n    return sum(items)\n")
    clone.commit("refactor: simplify order totals", author=("Nina New", "nina@example.com"))
    store = service_context(app).stores.get().inner
    assert ingest_repository(store, str(clone.path), name="shop", shards=1).new_commits == 1
    with app.app_context():
        invalidate_repository(store.query_one("SELECT id FROM repositories WHERE name = ?",
                                              ("shop",))[0])
    after = _post(client, "/ide/context", tokens["read"], ask).get_json()
    assert after["history"]["changes"] == first["history"]["changes"] + 1
    assert "nina@example.com" in {e["email"] for e in after["experts"]}


def test_replayed_co_changes_use_only_the_history_before_the_given_commit(ide):
    from ades.assist.context import coupled_files
    from ades.service import service_context

    client, _ = ide
    store = service_context(client.application).stores.get().inner
    repo_id, before = store.query_one(
        "SELECT repo_id, id FROM commits WHERE subject = ?", ("fix: correct order total rounding (3)",))
    # Before rita's third commit: olga's first commit and rita's first two.
    assert [(c["path"], c["support"], c["confidence"])
            for c in coupled_files(store, repo_id, "src/orders.py", before=before)] == [
        ("src/orders_db.py", 3, 1.0), ("tests/test_orders.py", 2, 0.6667)]

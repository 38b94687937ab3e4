"""The ui's REST API: each endpoint's happy path, and bad input answered with a 4xx JSON error
that changes nothing in the database."""

from __future__ import annotations

import json
import shutil

import pytest
from gitrepos import RepoBuilder, make_realistic_repo

from services.conftest import log_in, seed_world
from services.ui import create_app
from services.ui.webhooks import signature_of

WEBHOOK_SECRET = "webhook-test-secret"
COUNTED_TABLES = ("repositories", "ingest_jobs", "commits", "webhook_deliveries", "experiences")


@pytest.fixture(scope="session")
def orders_template(tmp_path_factory):
    """The realistic repository, built once and copied into each test's allowed root."""
    return make_realistic_repo(tmp_path_factory.mktemp("template") / "orders")


@pytest.fixture
def world(make_service, service_overrides, orders_template):
    """The fixture world plus "orders", a real repository under the allowed root, ingested."""
    from ades.service import service_context
    from ades.worker import run_worker

    overrides = dict(service_overrides)
    overrides["security"] = {**overrides["security"], "webhook_secret": WEBHOOK_SECRET}
    app = make_service(create_app, overrides)
    seed_world(app)
    context = service_context(app)
    root = context.config.server.repo_roots[0]
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(orders_template, root / "orders", symlinks=True)
    client = app.test_client()
    log_in(client, "alice")
    csrf = client.get("/api/auth/me").get_json()["csrf_token"]
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    response = client.post("/api/repositories", json={"name": "orders", "path": str(root / "orders")})
    assert response.status_code == 202, response.get_data(as_text=True)
    run_worker(context.stores.get().inner, context.config, once=True, lease_seconds=10)
    return app, client, root


def _counts(app) -> dict[str, int]:
    from ades.service import service_context

    store = service_context(app).stores.get().inner
    return {t: store.query_one(f"SELECT COUNT(*) FROM {t}")[0] for t in COUNTED_TABLES}


def _assert_json_error(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]


def test_a_registered_repository_is_ingested_by_the_worker_and_listed(world):
    app, client, _ = world
    repos = client.get("/api/repositories").get_json()["repositories"]
    orders = next(r for r in repos if r["name"] == "orders")
    assert orders["latest_job"]["status"] == "succeeded"
    assert orders["commit_count"] > 40
    job = client.get(f"/api/jobs/{orders['latest_job']['id']}").get_json()
    assert job["status"] == "succeeded" and job["progress"]["percent"] == 100.0
    stats = client.get("/api/repositories/orders/stats").get_json()
    assert stats["commits"] == orders["commit_count"] and stats["top_files"]
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"/api/repositories", "/api/jobs/{job_id}", "/api/search", "/api/webhooks/github",
            "/api/repositories/{name}/commits/{ref}"} <= set(paths)


def test_search_commit_detail_patterns_and_insights_answer_for_an_ingested_repository(world):
    _, client, _ = world
    results = client.get("/api/search?q=retry&repo=orders&limit=5").get_json()["results"]
    assert results and len(results[0]["commit"]) == 40 and {"score", "title"} <= set(results[0])
    commit = client.get(f"/api/repositories/orders/commits/{results[0]['commit']}").get_json()["commit"]
    assert commit["hash"] == results[0]["commit"] and commit["files"] and "diff --git" in commit["diff"]
    listing = client.get("/api/repositories/orders/commits?limit=5").get_json()
    assert len(listing["commits"]) == 5 and listing["next_offset"] == 5
    experience = client.get(f"/api/experiences/orders/{results[0]['commit'][:12]}").get_json()
    assert experience["experience"]["commit"] == results[0]["commit"]
    assert "similar" in client.get(f"/api/experiences/orders/{results[0]['commit']}/similar").get_json()
    patterns = client.get("/api/repositories/orders/patterns").get_json()["patterns"]
    assert patterns
    one = client.get(f"/api/repositories/orders/patterns/{patterns[0]['pattern']}").get_json()
    assert one["examples"]
    assert isinstance(client.get("/api/repositories/orders/insights").get_json()["insights"], list)
    history = client.get("/api/jobs?repo=orders").get_json()["jobs"]
    assert history[0]["repository"] == "orders"


BAD_REGISTRATIONS = [
    ({"name": "x", "path": "/etc"}, 400),                                  # outside the roots
    ({"name": "x", "path": "{root}/../../etc"}, 400),                      # '..'
    ({"name": "x", "path": "relative/path"}, 400),
    ({"name": "x", "path": "-uhelp"}, 400),                                # option-like
    ({"name": "x", "url": "--upload-pack=touch /tmp/pwned"}, 400),
    ({"name": "x", "url": "ext::sh -c touch% /tmp/pwned"}, 400),
    ({"name": "x", "url": "file:///etc"}, 400),                            # scheme not allowed
    ({"name": "x", "path": "{root}/orders", "url": "https://example.com/a.git"}, 400),
    ({"name": "x"}, 400),
    ({"path": "{root}/orders"}, 400),
    ({"name": 7, "path": "{root}/orders"}, 400),
    ({"name": "-bad", "path": "{root}/orders"}, 400),
    ({"name": "x", "path": ["{root}/orders"]}, 400),
    ({"name": "x", "path": "{root}/not-a-repo"}, 400),
    ({"name": "x", "path": "{root}/orders", "extra": 1}, 400),
    ({"name": "orders", "path": "{root}/other"}, 400),                     # not a repository
    ({"name": "x", "path": "{root}/orders" + "a" * 5000}, 400),
    ({"name": "x", "path": "{root}/escape"}, 400),                         # a link out of the root
]


def test_bad_registrations_are_refused_and_change_nothing(world, orders_template):
    app, client, root = world
    (root / "not-a-repo").mkdir(exist_ok=True)
    (root / "escape").symlink_to(orders_template)
    before = _counts(app)
    for body, status in BAD_REGISTRATIONS:
        body = {k: (v.replace("{root}", str(root)) if isinstance(v, str) else
                    [x.replace("{root}", str(root)) for x in v] if isinstance(v, list) else v)
                for k, v in body.items()}
        _assert_json_error(client.post("/api/repositories", json=body), status)
    assert _counts(app) == before


def test_malformed_wrong_type_and_huge_bodies_are_refused_and_change_nothing(world):
    app, client, _ = world
    before = _counts(app)
    _assert_json_error(client.post("/api/repositories", data="{not json",
                                   content_type="application/json"), 400)
    _assert_json_error(client.post("/api/repositories", json=["a", "list"]), 400)
    _assert_json_error(client.post("/api/repositories", data="name=x", content_type="text/plain"), 415)
    _assert_json_error(client.post("/api/repositories", data=b"{" + b" " * (17 * 1024 * 1024) + b"}",
                                   content_type="application/json"), 413)
    assert _counts(app) == before


def test_a_second_source_under_a_taken_name_is_a_conflict(world):
    app, client, root = world
    RepoBuilder(root / "other").write("a.txt", "a\n")
    builder = RepoBuilder(root / "other")
    builder.git("add", "-A")
    builder.commit("first")
    before = _counts(app)
    taken = {"name": "orders", "path": str(root / "other")}
    _assert_json_error(client.post("/api/repositories", json=taken), 409)
    assert _counts(app) == before


UNKNOWN = [
    "/api/repositories/nope", "/api/repositories/nope/stats", "/api/repositories/nope/commits",
    "/api/repositories/orders/commits/abcdef12", "/api/jobs/999999", "/api/experiences/orders/abcdef12",
    "/api/repositories/orders/patterns/no-such-pattern", "/api/repositories/nope/insights",
    "/api/jobs?repo=nope", "/api/search?q=retry&repo=nope",
]
BAD_PARAMETERS = [
    "/api/search", "/api/search?q=", "/api/search?q=retry&limit=0", "/api/search?q=retry&limit=abc",
    "/api/search?q=retry&since=yesterday", "/api/search?q=%21%21%21", "/api/jobs?status=bogus",
    "/api/jobs?limit=1000", "/api/repositories/orders/commits?offset=-1",
    "/api/repositories/orders/commits/xyz", "/api/repositories/orders/commits/--output=x",
]


def test_unknown_ids_are_404_and_bad_query_parameters_400(world):
    for path in UNKNOWN:
        _assert_json_error(world[1].get(path), 404)
    for path in BAD_PARAMETERS:
        _assert_json_error(world[1].get(path), 400)


def test_a_viewer_can_read_but_not_register_delete_or_cancel(world):
    app, _, root = world
    client = app.test_client()
    log_in(client, "vera")
    client.environ_base["HTTP_X_CSRF_TOKEN"] = client.get("/api/auth/me").get_json()["csrf_token"]
    assert client.get("/api/repositories").status_code == 200
    before = _counts(app)
    registration = {"name": "y", "path": str(root / "orders")}
    _assert_json_error(client.post("/api/repositories", json=registration), 403)
    _assert_json_error(client.delete("/api/repositories/orders"), 403)
    _assert_json_error(client.post("/api/jobs/1/cancel"), 403)
    assert _counts(app) == before
    _assert_json_error(app.test_client().get("/api/repositories"), 401)


def test_a_queued_job_is_cancelled_and_a_finished_one_cannot_be(world):
    _, client, _ = world
    job = client.post("/api/repositories/orders/ingest").get_json()["job"]
    assert job["status"] == "queued"
    assert client.post("/api/repositories/orders/ingest").get_json()["job"]["id"] == job["id"]
    assert client.post(f"/api/jobs/{job['id']}/cancel").get_json()["status"] == "cancelled"
    _assert_json_error(client.post(f"/api/jobs/{job['id']}/cancel"), 409)


def test_deleting_a_repository_removes_its_history(world):
    app, client, _ = world
    assert client.delete("/api/repositories/orders").get_json() == {"deleted": "orders"}
    _assert_json_error(client.get("/api/repositories/orders"), 404)
    assert _counts(app)["commits"] == 0


def _signed(body: dict, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    raw = json.dumps(body).encode()
    return raw, signature_of(secret, raw)


def test_webhooks_need_a_valid_signature_a_known_repository_and_a_fresh_delivery(world):
    app, _, _ = world
    anonymous = app.test_client()
    raw, signature = _signed({"repository": {"name": "orders"}})
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    before = _counts(app)
    _assert_json_error(anonymous.post("/api/webhooks/github", data=raw, headers=headers), 401)
    _assert_json_error(anonymous.post("/api/webhooks/github", data=raw, headers={
        **headers, "X-Hub-Signature-256": _signed({"x": 1})[1]}), 401)
    unknown, unknown_signature = _signed({"repository": {"name": "nope"}})
    _assert_json_error(anonymous.post("/api/webhooks/github", data=unknown, headers={
        **headers, "X-Hub-Signature-256": unknown_signature}), 404)
    bad, bad_signature = b"{not json", signature_of(WEBHOOK_SECRET, b"{not json")
    _assert_json_error(anonymous.post("/api/webhooks/github", data=bad, headers={
        **headers, "X-Hub-Signature-256": bad_signature}), 400)
    assert _counts(app) == before
    accepted = anonymous.post("/api/webhooks/github", data=raw,
                              headers={**headers, "X-Hub-Signature-256": signature})
    assert accepted.status_code == 202 and accepted.get_json()["job"]["status"] == "queued"
    after = _counts(app)
    _assert_json_error(anonymous.post("/api/webhooks/github", data=raw,
                                      headers={**headers, "X-Hub-Signature-256": signature}), 409)
    assert _counts(app) == after
    generic, generic_signature = _signed({"repository": "orders"})
    response = anonymous.post("/api/webhooks/generic", data=generic, headers={
        "X-ADES-Signature": generic_signature, "X-ADES-Delivery": "g-1",
        "Content-Type": "application/json"})
    assert response.status_code == 202


def test_code_in_a_search_query_or_a_signed_push_is_data_not_an_attack(world):
    app, client, _ = world
    assert client.get("/api/search?q=' union select password from users --").status_code == 200
    raw, signature = _signed({"repository": {"name": "orders"}, "head_commit": {
        "message": "Fix: DROP TABLE users; was run by <script>alert(1)</script> in the docs"}})
    response = app.test_client().post("/api/webhooks/github", data=raw, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "code-1", "X-Hub-Signature-256": signature,
        "Content-Type": "application/json"})
    assert response.status_code == 202, response.get_data(as_text=True)

"""Who may call what: roles declared per endpoint, bearer tokens limited by scope,
anonymous requests turned away (401 or a login redirect), CSRF checks on cookie writes,
and endpoints that forgot to declare anything."""

from __future__ import annotations

import pytest
from ades.hardening import declare, public, requires, undeclared_routes
from ades.hardening.audit import query_events
from flask import Blueprint, jsonify
from hardening_world import bearer, kinds, login


@pytest.fixture
def app(make_app):
    return make_app()


def logged_in(app, name):
    """A test client with `name`'s session, and that session's CSRF token."""
    client = app.test_client()
    return client, login(client, name).get_json()["csrf_token"]


@pytest.mark.parametrize("who, status", [
    ("alice", 200), ("bob", 403), ("carol", 403)])
def test_admin_routes_admit_only_admins(app, who, status):
    client, _ = logged_in(app, who)
    assert client.get("/api/settings").status_code == status


@pytest.mark.parametrize("who, status", [("alice", 201), ("bob", 201), ("carol", 403)])
def test_write_routes_admit_maintainers_and_above(app, who, status):
    client, csrf = logged_in(app, who)
    response = client.post("/api/items", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == status


def test_forbidden_requests_are_audited(app, world):
    client, _ = logged_in(app, "carol")
    assert client.get("/api/settings").get_json() == {"error": "forbidden: requires role admin"}
    (event,) = query_events(world.store, kind="access.denied")
    assert (event.actor, event.detail["path"]) == ("carol", "/api/settings")


def test_anonymous_json_requests_get_401(app):
    client = app.test_client()
    for method, path in [("GET", "/api/items"), ("POST", "/api/items"),
                         ("GET", "/api/auth/me"), ("GET", "/api/admin/audit")]:
        response = client.open(path, method=method, headers={"Accept": "application/json"})
        assert response.status_code == 401, path
        assert response.get_json() == {"error": "authentication required"}
    assert client.get("/api/items").status_code == 401  # no Accept header: JSON


def test_anonymous_browser_navigation_is_redirected_to_the_login_page(app):
    response = app.test_client().get(
        "/api/items?q=1", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fapi%2Fitems%3Fq%3D1"


def test_public_routes_need_no_login(app):
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.post("/api/auth/logout").status_code == 200


def test_a_write_token_may_write_without_csrf(app, world):
    response = app.test_client().post("/api/items", json={"name": "x"},
                                      headers=bearer(world.write_token))
    assert response.status_code == 201


def test_a_read_token_may_read_but_not_write(app, world):
    client = app.test_client()
    assert client.get("/api/items", headers=bearer(world.read_token)).status_code == 200
    response = client.post("/api/items", json={}, headers=bearer(world.read_token))
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden: requires a write-scope token"}
    # A route declared scope="read" accepts a read token even for a POST.
    assert client.post("/api/preview", json={}, headers=bearer(world.read_token))\
        .status_code == 200


def test_a_token_is_limited_by_its_users_role_as_well(app, world):
    from ades.hardening import tokens

    _, carols = tokens.create_token(world.store, "carol", "write")
    response = app.test_client().post("/api/items", json={}, headers=bearer(carols))
    assert response.status_code == 403


def test_a_revoked_token_gets_401(app, world):
    from ades.hardening import tokens

    tokens.revoke_token(world.store, world.write_token_id)
    response = app.test_client().get("/api/items", headers=bearer(world.write_token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token.rejected" in kinds(world.store)


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Basic Ym9iOnB3",
                                    "Bearer ades_" + "A" * 43])
def test_bad_authorization_headers_get_401_even_with_a_valid_session(app, header):
    client, _ = logged_in(app, "bob")
    assert client.get("/api/items", headers={"Authorization": header}).status_code == 401


def test_token_use_is_audited_at_most_once_a_minute(app, world):
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/items", headers=bearer(world.read_token)).status_code == 200
    (event,) = query_events(world.store, kind="token.used")
    assert (event.actor, event.detail["token_id"]) == ("bob", world.read_token_id)


def test_a_cookie_write_without_the_csrf_token_is_rejected(app, world):
    client, csrf = logged_in(app, "bob")
    assert client.post("/api/items", json={}).status_code == 403
    assert client.post("/api/items", json={}, headers={"X-CSRF-Token": "wrong"})\
        .status_code == 403
    assert client.post("/api/items", json={}, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert kinds(world.store, kind="csrf.rejected") == ["csrf.rejected"] * 2


def test_a_form_post_may_carry_the_csrf_token_as_a_field(app):
    client, csrf = logged_in(app, "carol")
    assert client.post("/api/notes", data={"text": "hi"}).status_code == 403
    response = client.post("/api/notes", data={"text": "hi", "csrf_token": csrf})
    assert response.status_code == 200 and response.get_json()["note"]["text"] == "hi"


def test_the_csrf_token_of_one_session_is_useless_in_another(app):
    _, bobs_csrf = logged_in(app, "bob")
    client, _ = logged_in(app, "alice")
    assert client.post("/api/items", json={}, headers={"X-CSRF-Token": bobs_csrf})\
        .status_code == 403


def test_tokens_can_be_created_and_revoked_from_a_session_only(app, world):
    client, csrf = logged_in(app, "carol")
    created = client.post("/api/auth/tokens", json={"scope": "read", "name": "ide"},
                          headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    token, token_id = created.get_json()["token"], created.get_json()["metadata"]["id"]
    assert app.test_client().get("/api/items", headers=bearer(token)).status_code == 200
    listed = client.get("/api/auth/tokens").get_json()["tokens"]
    assert [t["name"] for t in listed] == ["ide"] and token not in str(listed)

    by_token = app.test_client().post("/api/auth/tokens", json={"scope": "write"},
                                      headers=bearer(world.write_token))
    assert by_token.status_code == 403
    # Somebody else's token is not found, rather than forbidden.
    assert client.delete(f"/api/auth/tokens/{world.read_token_id}",
                         headers={"X-CSRF-Token": csrf}).status_code == 404
    assert client.delete(f"/api/auth/tokens/{token_id}",
                         headers={"X-CSRF-Token": csrf}).status_code == 200
    assert app.test_client().get("/api/items", headers=bearer(token)).status_code == 401


def test_admins_query_the_audit_log_and_manage_users(app, world):
    client, csrf = logged_in(app, "alice")
    login(app.test_client(), "bob", "wrong-password")
    events = client.get("/api/admin/audit?kind=login.*&limit=10").get_json()["events"]
    assert [(e["kind"], e["actor"]) for e in events] == [("login.failed", "bob"),
                                                         ("login.succeeded", "alice")]
    assert client.get("/api/admin/audit?since=abc").status_code == 400
    created = client.post("/api/admin/users", headers={"X-CSRF-Token": csrf},
                          json={"username": "dave", "password": "dave-password",
                                "role": "viewer"})
    assert created.status_code == 201
    changed = client.put("/api/admin/users/dave/role", json={"role": "maintainer"},
                         headers={"X-CSRF-Token": csrf})
    assert changed.get_json()["user"]["role"] == "maintainer"
    names = [u["username"] for u in client.get("/api/admin/users").get_json()["users"]]
    assert names == ["alice", "bob", "carol", "dave"]
    (event,) = query_events(world.store, kind="user.role_changed")
    assert (event.actor, event.detail) == ("alice", {"user": "dave", "from": "viewer",
                                                     "to": "maintainer", "method": "PUT",
                                                     "path": "/api/admin/users/dave/role"})
    viewer, _ = logged_in(app, "carol")
    assert viewer.get("/api/admin/audit").status_code == 403


def undeclared_blueprint():
    extra = Blueprint("extra", __name__)

    @extra.get("/api/forgotten")
    def forgotten():
        return jsonify({"secret": 42})

    @extra.get("/api/declared-later")
    def declared_later():
        return jsonify({"ok": True})

    return extra


def test_undeclared_routes_are_listed_and_refused_to_everyone(make_app):
    app = make_app(extra=undeclared_blueprint())
    assert undeclared_routes(app) == ["extra.declared_later", "extra.forgotten"]
    admin, _ = logged_in(app, "alice")
    assert admin.get("/api/forgotten").status_code == 403
    assert app.test_client().get("/api/forgotten").status_code == 401
    declare(app, "extra.declared_later", "viewer")
    declare(app, "extra.forgotten", None)
    assert undeclared_routes(app) == []
    assert app.test_client().get("/api/forgotten").status_code == 200


def test_every_route_of_the_demo_app_is_declared(app):
    assert undeclared_routes(app) == []


def test_declarations_reject_unknown_roles_and_scopes():
    with pytest.raises(ValueError, match="unknown role"):
        requires("root")
    with pytest.raises(ValueError, match="unknown scope"):
        requires("viewer", scope="admin")
    assert public(lambda: None)._ades_access.is_public

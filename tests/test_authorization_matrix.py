"""Every route of every service x every kind of caller gets the status its declaration implies.

The expectation comes from the route's own declaration (`requires(role, scope=)` or `public`),
so a route added without one fails here (and the factory refuses it too). Requests use names
and ids that do not exist, so a caller who is let through meets a 4xx from the view itself and
nothing is changed; what this test checks is who is let through.
"""

from __future__ import annotations

import pytest
from ades.hardening import tokens, users
from ades.hardening.rbac import access_rule, undeclared_routes
from ades.service import service_context

SERVICES = ("ui", "ide", "collab", "viz")
ROLES = {"vera": "viewer", "mark": "maintainer", "alice": "admin"}
PASSWORD = "a-long-enough-password"
SAFE = {"GET", "HEAD", "OPTIONS"}
RANK = {"viewer": 1, "maintainer": 2, "admin": 3}
# Creating and revoking tokens needs a logged-in session, whatever the token.
SESSION_ONLY_PREFIX = "/api/auth/tokens"


def _factory(name):
    import importlib

    return importlib.import_module(f"services.{name}").create_app


@pytest.fixture(params=SERVICES)
def service(request, tmp_path, monkeypatch):
    import os

    for var in [n for n in os.environ if n.startswith("GAIT_")]:
        monkeypatch.delenv(var)
    app = _factory(request.param)({
        "server": {"data_dir": str(tmp_path / "data"), "redis_url": None, "postgres_url": None},
        "security": {"secret_key": "matrix-secret", "rate_limit": "100000/minute"},
    })
    store = service_context(app).stores.get().inner
    for name, role in ROLES.items():
        users.create_user(store, name, PASSWORD, role)
    _, read_token = tokens.create_token(store, "alice", "read")
    _, write_token = tokens.create_token(store, "alice", "write")
    yield request.param, app, read_token, write_token
    service_context(app).close()


def _callers(app, read_token, write_token):
    """(name, role, test client, headers, via) for each kind of caller."""
    out = [("anonymous", None, app.test_client(), {}, None)]
    for name, role in ROLES.items():
        client = app.test_client()
        response = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.get_data(as_text=True)
        out.append((name, role, client, {"X-CSRF-Token": response.get_json()["csrf_token"]},
                    "session"))
    for name, token in (("token-read", read_token), ("token-write", write_token)):
        out.append((name, "admin", app.test_client(), {"Authorization": f"Bearer {token}"}, name))
    return out


def _url(rule) -> str:
    """A concrete URL for `rule` naming things that do not exist (ids 999999, names "nosuch")."""
    values = {arg: "999999" if type(rule._converters[arg]).__name__ == "IntegerConverter"
              else "nosuch" for arg in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


WEBSOCKET_HANDSHAKE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
# The access layer's own refusals; a view may answer 401/403 for its own reasons (a webhook
# without a valid signature, a failed login), which is not a denial by role.
ACCESS_DENIALS = ("authentication required", "invalid, expired or revoked API token",
                  "forbidden: requires", "forbidden: undeclared", "forbidden: manage API tokens")


def _denial(response) -> str:
    """"401"/"403" when the access layer refused the request, else "allowed"."""
    if response.status_code not in (401, 403):
        return "allowed"
    body = response.get_json(silent=True) or {}
    message = str(body.get("error", ""))
    return str(response.status_code) if message.startswith(ACCESS_DENIALS) else "allowed"


def _expected(rule_access, method: str, role: str | None, via: str | None, path: str) -> str:
    if rule_access.is_public:
        return "allowed"
    if role is None:
        return "401"
    if RANK[role] < RANK[rule_access.role]:
        return "403"
    if via == "token-read" and rule_access.scope_for(method) == "write":
        return "403"
    if (via and via.startswith("token") and path.startswith(SESSION_ONLY_PREFIX)
            and method not in SAFE):
        return "403"
    return "allowed"


def test_every_route_answers_each_caller_as_its_declaration_says(service):
    name, app, read_token, write_token = service
    assert undeclared_routes(app) == []
    callers = _callers(app, read_token, write_token)
    mismatches, checked = [], 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        access = access_rule(app, rule.endpoint)
        assert access is not None, f"{name}: {rule.rule} declares no role"
        url = _url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for caller, role, client, headers, via in callers:
                if rule.endpoint.endswith("logout") and via == "session":
                    continue  # would end the session the rest of the matrix uses
                extra = dict(WEBSOCKET_HANDSHAKE) if rule.websocket else {}
                response = client.open(url, method=method, json={} if method not in SAFE else None,
                                       headers={"Accept": "application/json", **extra, **headers})
                status = response.status_code
                want = _expected(access, method, role, via, url)
                got = _denial(response)
                response.close()
                checked += 1
                if got != want:
                    mismatches.append(f"{method} {url} as {caller}: {status}, expected {want}")
                assert status < 500, f"{method} {url} as {caller}: {status}"
    assert checked > 50
    assert mismatches == [], "\n".join(mismatches)

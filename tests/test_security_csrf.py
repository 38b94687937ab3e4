"""CSRF on every cookie-authenticated write of every service.

The routes come from each service's url_map (as in the authorization matrix), so a write
route added later is attacked too. alice (admin) is logged in with a session cookie; each
non-GET route is called with the real names and ids of things that exist and a body that
would succeed, in four ways a hostile page could try: no CSRF token, another session's
token, the right token from a foreign Origin, the right token from an opaque (`null`)
Origin. Each must be refused with 403 by the CSRF layer, leave every table as it was
(the audit log aside, which records the refusal) and leave the session logged in.
"""

from __future__ import annotations

import pytest
from ades.hardening import limits, tokens
from ades.hardening.csrf import EXEMPT_ATTR
from ades.storage.repositories import get_repository
from gitrepos import make_linear_repo
from security_world import (
    SERVICES,
    clear_gait_env,
    close,
    create_accounts,
    ingest_queued,
    logged_in,
    overrides,
    service_factory,
    store_of,
)

CATEGORY = "CSRF on cookie-authenticated writes"
# Public endpoints that take no session: logging in, webhooks authenticated by signature,
# and Alertmanager's receiver, authenticated by its own bearer token.
CSRF_EXEMPT = {"auth.login", "ui.login_form", "webhooks.github", "webhooks.generic", "alerts.webhook"}
FORM_PREFIXES = ("ui.", "ui_admin.")
# Tables a refused request may touch: the audit log records the refusal, and the session
# row its last activity.
VOLATILE_TABLES = {"audit_log", "login_sessions"}


@pytest.fixture
def world(tmp_path, monkeypatch):
    """The four apps on one database; "payments" ingested; one annotation, token and block."""
    clear_gait_env(monkeypatch)
    root = tmp_path / "roots"
    make_linear_repo(root / "payments", commits=5, files=3)
    config = overrides(tmp_path / "data", root)
    apps = {name: service_factory(name)(config) for name in SERVICES}
    create_accounts(apps["ui"])
    client, csrf = logged_in(apps["ui"], "alice")
    assert client.post("/api/repositories", json={"name": "payments", "path": str(root / "payments")},
                       headers={"X-CSRF-Token": csrf}).status_code == 202
    ingest_queued(apps["ui"])
    store = store_of(apps["ui"])
    assert client.post("/api/repositories/payments/ingest", headers={"X-CSRF-Token": csrf}).status_code == 202
    collab, collab_csrf = logged_in(apps["collab"], "alice")
    made = collab.post("/collab/repos/payments/annotations", headers={"X-CSRF-Token": collab_csrf},
                       json={"target": {"kind": "file", "id": "README.md"}, "body": "keep me"})
    assert made.status_code == 201, made.get_data(as_text=True)
    token, _ = tokens.create_token(store, "alice", "read", "laptop")
    limits.block_ip(store, "203.0.113.99", 3600, "test")
    annotation = made.get_json()
    values = {"name": "payments", "token_id": str(token.id),
              "annotation_id": str(annotation["annotation"]["id"]),
              "job_id": str(store.query_one("SELECT MAX(id) FROM ingest_jobs")[0]),
              "username": "vera", "ip": "203.0.113.99"}
    assert get_repository(store, "payments") is not None
    yield apps, values, root
    for app in apps.values():
        close(app)


def _bodies(root) -> dict[str, dict]:
    """A body that would succeed, per endpoint (the rest need none)."""
    return {
        "auth.create_my_token": {"scope": "write", "name": "csrf"},
        "admin.create_user": {"username": "eve", "password": "eve-password-long-enough", "role": "admin"},
        "admin.set_user_role": {"role": "admin"},
        "api_repositories.register": {"name": "planted", "path": str(root / "payments")},
        "ui.register_form": {"name": "planted", "source": str(root / "payments")},
        "ui_admin.create_token": {"scope": "write", "name": "csrf"},
        "ui_admin.create_user": {"username": "eve", "password": "eve-password-long-enough", "role": "admin"},
        "ui_admin.set_role": {"role": "admin"},
        "collab.create_annotation": {"target": {"kind": "file", "id": "x.py"}, "body": "planted"},
        "collab.update_annotation": {"body": "changed"},
        "ide.context": {"repo": "payments", "path": "README.md"},
        "ide.review": {"repo": "payments", "diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"},
        "ide.similar": {"repo": "payments", "text": "retry"},
        "mcp.mcp": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    }


def _snapshot(app) -> dict[str, list[tuple]]:
    store = store_of(app)
    tables = [row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%fts%'")]
    return {t: sorted(map(tuple, store.query(f"SELECT * FROM {t}")), key=repr)
            for t in tables if t not in VOLATILE_TABLES}


def _write_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            yield rule, method


def test_every_cookie_authenticated_write_refuses_cross_site_requests(world, attacks):
    apps, values, root = world
    bodies = _bodies(root)
    exempt_seen, checked = set(), 0
    for name, app in apps.items():
        client, csrf = logged_in(app, "alice")
        other_csrf = logged_in(app, "vera")[1]
        own_origin = "http://localhost"
        variants = {
            "no CSRF token": {"Origin": own_origin},
            "another session's CSRF token": {"X-CSRF-Token": other_csrf},
            "right token, foreign Origin https://evil.example": {"X-CSRF-Token": csrf,
                                                                 "Origin": "https://evil.example"},
            "right token, Origin: null": {"X-CSRF-Token": csrf, "Origin": "null"},
        }
        for rule, method in _write_routes(app):
            if getattr(app.view_functions[rule.endpoint], EXEMPT_ATTR, False):
                exempt_seen.add(rule.endpoint)
                continue
            url = rule.build({arg: values[arg] for arg in rule.arguments}, append_unknown=False)[1]
            body = bodies.get(rule.endpoint, {})
            for label, headers in variants.items():
                before = _snapshot(app)
                if rule.endpoint.startswith(FORM_PREFIXES):
                    response = client.open(url, method=method, data=body, headers=headers)
                else:
                    response = client.open(url, method=method, json=body,
                                           headers={"Accept": "application/json", **headers})
                error = str((response.get_json(silent=True) or {}).get("error", ""))
                unchanged = _snapshot(app) == before
                still_in = client.get("/api/auth/me").status_code == 200
                checked += 1
                attacks.record(CATEGORY, f"{label}", f"{name}: {method} {url}",
                               expected="403 from the CSRF check; nothing changed; still logged in",
                               observed=f"{response.status_code} {error[:60]}; unchanged={unchanged}; "
                                        f"session kept={still_in}",
                               passed=response.status_code == 403 and unchanged and still_in
                               and ("CSRF" in error or "origin" in error.lower()))
    assert exempt_seen == CSRF_EXEMPT, f"CSRF-exempt views changed: {sorted(exempt_seen ^ CSRF_EXEMPT)}"
    assert checked >= 4 * 30
    attacks.assert_all_refused()


def test_a_same_origin_write_with_the_right_token_still_works(world, attacks):
    apps, _, root = world
    client, csrf = logged_in(apps["ui"], "alice")
    for origin in ("http://localhost", None):
        headers = {"X-CSRF-Token": csrf, **({"Origin": origin} if origin else {})}
        response = client.post("/api/auth/tokens", json={"scope": "read", "name": f"ok-{origin}"},
                               headers=headers)
        attacks.record(CATEGORY, f"control: right token, Origin {origin}", "ui: POST /api/auth/tokens",
                       expected="201 (the check must not break legitimate use)",
                       observed=str(response.status_code), passed=response.status_code == 201)
    attacks.assert_all_refused()

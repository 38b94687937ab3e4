"""Logging in and out over HTTP: one answer for every failure, lockout and unlock with
their audit trail, session ids that change at login, and idle/absolute timeouts, with
cookie sessions and with Redis-backed sessions."""

from __future__ import annotations

import pytest
from ades.hardening import HardeningOptions, users
from ades.hardening.audit import query_events
from ades.hardening.sessions import CREATED_KEY, SEEN_KEY
from hardening_world import bearer, kinds, login, session_cookie

GENERIC = {"error": "invalid username or password"}


@pytest.fixture(params=["cookie", "redis"])
def session_app(request, make_app):
    """The demo app with signed-cookie sessions, then with Redis-backed sessions."""
    if request.param == "cookie":
        return make_app(security={"max_login_attempts": 3})
    prefix = request.getfixturevalue("redis_prefix")
    return make_app(security={"max_login_attempts": 3},
                    redis_url=request.getfixturevalue("redis_server_url"),
                    options=HardeningOptions(redis_key_prefix=prefix))


def test_login_returns_the_user_a_csrf_token_and_a_session_cookie(session_app):
    client = session_app.test_client()
    response = login(client, "bob")
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["username"] == "bob" and body["user"]["role"] == "maintainer"
    assert "password_hash" not in str(body) and len(body["csrf_token"]) >= 32
    cookie = client.get_cookie("ades_session")
    assert cookie.path == "/" and cookie.http_only and cookie.same_site == "Lax"
    me = client.get("/api/auth/me").get_json()
    assert (me["user"]["username"], me["via"], me["csrf_token"]) == \
        ("bob", "session", body["csrf_token"])
    assert response.headers["Cache-Control"] == "no-store"


def test_every_login_failure_gets_the_same_401_answer(session_app, world):
    client = session_app.test_client()
    users.set_disabled(world.store, "carol", True)
    answers = [login(client, "bob", "wrong-password"), login(client, "nobody", "whatever-pw"),
               login(client, "carol")]
    assert [(r.status_code, r.get_json()) for r in answers] == [(401, GENERIC)] * 3
    assert session_cookie(client) is None
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize("body", [None, [], {"username": "bob"}, {"username": 1, "password": 2}])
def test_malformed_login_requests_are_400(session_app, body):
    response = session_app.test_client().post("/api/auth/login", json=body)
    assert response.status_code == 400


def test_an_account_locks_after_repeated_failures_and_an_admin_unlocks_it(session_app, world):
    client = session_app.test_client()
    for _ in range(3):
        assert login(client, "carol", "wrong-password").status_code == 401
    # Locked: the right password gets the same answer as a wrong one.
    assert login(client, "carol").get_json() == GENERIC
    assert login(client, "carol").status_code == 401
    assert users.get_user(world.store, "carol").is_locked()

    admin = session_app.test_client()
    csrf = login(admin, "alice").get_json()["csrf_token"]
    unlocked = admin.post("/api/admin/users/carol/unlock", headers={"X-CSRF-Token": csrf})
    assert unlocked.status_code == 200 and unlocked.get_json()["user"]["locked"] is False
    assert login(client, "carol").status_code == 200

    assert kinds(world.store) == ["login.failed", "login.failed", "login.failed",
                                  "account.locked", "login.locked", "login.locked",
                                  "login.succeeded", "account.unlocked", "login.succeeded"]
    (unlock_event,) = query_events(world.store, kind="account.unlocked")
    assert (unlock_event.actor, unlock_event.detail["user"]) == ("alice", "carol")
    (lock_event,) = query_events(world.store, kind="account.locked")
    assert (lock_event.actor, lock_event.detail["failed_logins"]) == ("carol", 3)


def test_only_admins_may_unlock_accounts(session_app):
    client = session_app.test_client()
    csrf = login(client, "bob").get_json()["csrf_token"]
    response = client.post("/api/admin/users/carol/unlock", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403


def test_the_session_id_changes_at_login_so_a_planted_session_is_useless(session_app):
    victim = session_app.test_client()
    victim.get("/api/auth/me")  # an anonymous visit
    # The attacker's session, planted in the victim's browser before login.
    attacker = session_app.test_client()
    with attacker.session_transaction() as planted:
        planted["note"] = "attacker was here"
    planted_cookie = session_cookie(attacker)
    assert planted_cookie
    victim.set_cookie("ades_session", planted_cookie)

    assert login(victim, "bob").status_code == 200
    assert session_cookie(victim) not in (None, planted_cookie)
    # The attacker's copy of the old cookie does not carry the victim's login.
    assert attacker.get("/api/auth/me").status_code == 401
    with victim.session_transaction() as current:
        assert "note" not in current


def test_logging_in_again_issues_yet_another_session(session_app):
    client = session_app.test_client()
    login(client, "bob")
    first = session_cookie(client)
    login(client, "carol")
    assert session_cookie(client) != first
    assert client.get("/api/auth/me").get_json()["user"]["username"] == "carol"


def test_logout_ends_the_session(session_app, world):
    client = session_app.test_client()
    csrf = login(client, "bob").get_json()["csrf_token"]
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert session_cookie(client) is None
    assert client.get("/api/auth/me").status_code == 401
    assert kinds(world.store, kind="logout") == ["logout"]


def test_logout_needs_the_csrf_token_of_the_session(session_app):
    client = session_app.test_client()
    login(client, "bob")
    assert client.post("/api/auth/logout").status_code == 403
    assert client.get("/api/auth/me").status_code == 200


def test_a_session_ends_after_the_idle_timeout(session_app):
    client = session_app.test_client()
    login(client, "bob")
    with client.session_transaction() as sess:
        sess[SEEN_KEY] -= 61 * 60  # idle timeout is 60 minutes
    expired = client.get("/api/auth/me")
    assert expired.status_code == 401
    assert expired.get_json() == {"error": "session expired; log in again"}
    assert client.get("/api/auth/me").get_json() == {"error": "authentication required"}


def test_a_session_ends_after_the_absolute_timeout_even_when_active(session_app):
    client = session_app.test_client()
    login(client, "bob")
    with client.session_transaction() as sess:
        sess[CREATED_KEY] -= 12 * 3600 + 1  # absolute timeout is 12 hours
    assert client.get("/api/auth/me").status_code == 401


def test_an_active_session_stays_valid_and_records_activity(session_app):
    client = session_app.test_client()
    login(client, "bob")
    with client.session_transaction() as sess:
        sess[SEEN_KEY] -= 59 * 60
        stale = sess[SEEN_KEY]
    assert client.get("/api/auth/me").status_code == 200
    with client.session_transaction() as sess:
        assert sess[SEEN_KEY] > stale + 58 * 60


def test_a_disabled_user_loses_an_open_session(session_app, world):
    client = session_app.test_client()
    login(client, "carol")
    users.set_disabled(world.store, "carol", True)
    assert client.get("/api/auth/me").status_code == 401


def test_role_changes_apply_to_open_sessions_at_once(session_app, world):
    client = session_app.test_client()
    login(client, "carol")
    assert client.get("/api/settings").status_code == 403
    users.set_role(world.store, "carol", "admin")
    assert client.get("/api/settings").status_code == 200


def test_a_session_cookie_works_across_services_sharing_the_secret(make_app, request,
                                                                    redis_server_url,
                                                                    redis_prefix, tmp_path):
    options = HardeningOptions(redis_key_prefix=redis_prefix)
    for redis_url in (None, redis_server_url):
        ui = make_app(redis_url=redis_url, options=options, data_dir=tmp_path / "ui")
        viz = make_app(redis_url=redis_url, options=options, data_dir=tmp_path / "viz")
        client = ui.test_client()
        login(client, "bob")
        other = viz.test_client()
        other.set_cookie("ades_session", session_cookie(client))
        assert other.get("/api/auth/me").get_json()["user"]["username"] == "bob"


def test_redis_sessions_keep_only_a_signed_id_in_the_cookie(make_app, redis_server_url,
                                                            redis_prefix):
    import redis

    app = make_app(redis_url=redis_server_url,
                   options=HardeningOptions(redis_key_prefix=redis_prefix))
    client = app.test_client()
    login(client, "bob")
    cookie = session_cookie(client)
    sid = cookie.rsplit(".", 1)[0]
    server = redis.Redis.from_url(redis_server_url)
    try:
        stored = server.get(f"{redis_prefix}session:{sid}")
        assert stored is not None and b'"_user_id"' in stored
        assert 0 < server.ttl(f"{redis_prefix}session:{sid}") <= 61 * 60
        # A forged id (valid shape, bad signature) is an anonymous session.
        forged = app.test_client()
        forged.set_cookie("ades_session", sid + ".forged")
        assert forged.get("/api/auth/me").status_code == 401
        # Logging out deletes the server-side data, so a copied cookie dies with it.
        copy = app.test_client()
        copy.set_cookie("ades_session", cookie)
        csrf = client.get("/api/auth/me").get_json()["csrf_token"]
        client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        assert server.get(f"{redis_prefix}session:{sid}") is None
        assert copy.get("/api/auth/me").status_code == 401
    finally:
        server.close()


def test_logins_answer_503_but_tokens_still_work_when_redis_is_down(make_app, world,
                                                                    closed_port_redis_url):
    app = make_app(redis_url=closed_port_redis_url)
    client = app.test_client()
    refused = login(client, "bob")  # the session could not be stored: no silent 200
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "session_store_unavailable"
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/api/auth/me").status_code == 401  # nobody is logged in
    assert client.get("/api/items", headers=bearer(world.read_token)).status_code == 200


def test_passwords_are_never_inspected_as_attack_payloads(session_app, world):
    users.set_password(world.store, "carol", "x' OR '1'='1 <script>")
    assert login(session_app.test_client(), "carol", "x' OR '1'='1 <script>").status_code == 200


def test_a_redis_outage_suspends_sessions_with_503_without_failing_other_requests(
        make_app, world, throwaway_redis):
    app = make_app(redis_url=throwaway_redis.url)
    client = app.test_client()
    login(client, "bob")
    assert client.get("/api/auth/me").status_code == 200
    throwaway_redis.stop()
    suspended = client.get("/api/auth/me")  # "try again later", not "log in again"
    assert suspended.status_code == 503
    assert suspended.get_json()["code"] == "session_store_unavailable"
    assert client.get("/api/items", headers=bearer(world.read_token)).status_code == 200
    assert client.get("/healthz").status_code == 200

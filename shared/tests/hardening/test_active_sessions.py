"""The active-sessions gauge on /metrics counts the login sessions that are live now:
logged in, not logged out, not past their idle or absolute deadline - with signed-cookie
sessions (recorded in the database) and with Redis sessions (a sorted set in Redis).

The session clock of `ades.hardening.sessions` is moved forward instead of waiting an
hour; the sessions' own timeout checks and the gauge read the same clock.
"""

from __future__ import annotations

import re
import time
import types

import pytest
from ades import metrics
from ades.config import load_config
from ades.hardening import HardeningOptions, auth_bp, init_app, sessions, users
from flask import Flask
from hardening_world import PASSWORDS, SECRET, login

EXTRA_USERS = {"dave": "dave-password"}


class SessionClock:
    """Stands in for the `time` module inside `ades.hardening.sessions` only."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.monotonic = time.monotonic

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, minutes: float) -> None:
        self.offset += minutes * 60


@pytest.fixture
def clock(monkeypatch):
    fake = SessionClock()
    monkeypatch.setattr(sessions, "time", types.SimpleNamespace(time=fake.time, monotonic=fake.monotonic))
    return fake


@pytest.fixture(params=["cookie", "redis"])
def metered_app(request, world, tmp_path):
    """A hardened app with metrics bound (its /metrics exports the gauge), idle timeout 60 min."""
    redis_url = request.getfixturevalue("redis_server_url") if request.param == "redis" else None
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else "ades:"
    config = load_config({}, overrides={
        "server": {"data_dir": tmp_path / "data", "redis_url": redis_url},
        "security": {"secret_key": SECRET, "rate_limit": "1000/minute", "session_idle_minutes": 60,
                     "session_absolute_hours": 12}})
    app = Flask(__name__)
    metrics.init_app(app, config, "sessions-test")
    init_app(app, lambda: world.store, config, options=HardeningOptions(redis_key_prefix=prefix))
    app.register_blueprint(auth_bp)
    for name, password in EXTRA_USERS.items():
        users.create_user(world.store, name, password, "viewer")
    return app


def active_sessions(app) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    match = re.search(r"^ades_active_user_sessions (\S+)$", text, flags=re.M)
    assert match, "the gauge is missing from /metrics"
    return float(match.group(1))


def logged_in(app, name: str):
    client = app.test_client()
    password = PASSWORDS.get(name) or EXTRA_USERS[name]
    response = login(client, name, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    return client, response.get_json()["csrf_token"]


def test_the_gauge_counts_logins_minus_logouts_and_expired_sessions(metered_app, clock):
    assert active_sessions(metered_app) == 0
    alice, _ = logged_in(metered_app, "alice")
    clock.advance(minutes=50)
    bob_laptop, _ = logged_in(metered_app, "bob")
    bob_phone, _ = logged_in(metered_app, "bob")  # a second session of the same user counts
    carol, carol_csrf = logged_in(metered_app, "carol")
    dave, _ = logged_in(metered_app, "dave")
    assert active_sessions(metered_app) == 5

    assert carol.post("/api/auth/logout", headers={"X-CSRF-Token": carol_csrf}).status_code == 200
    assert active_sessions(metered_app) == 4

    # 65 minutes after alice's login and no request since: her session has ended.
    clock.advance(minutes=15)
    assert active_sessions(metered_app) == 3
    assert alice.get("/api/auth/me").status_code == 401  # the session layer agrees

    # dave keeps using his session, which moves its deadline; bob's two lapse.
    assert dave.get("/api/auth/me").status_code == 200
    clock.advance(minutes=50)
    assert active_sessions(metered_app) == 1
    assert bob_laptop.get("/api/auth/me").status_code == 401
    assert dave.get("/api/auth/me").status_code == 200


def test_the_absolute_deadline_ends_even_a_busy_session(metered_app, clock):
    client, _ = logged_in(metered_app, "bob")
    for _ in range(14):
        clock.advance(minutes=55)
        if client.get("/api/auth/me").status_code != 200:
            break
    # 12 hours after login the session is over however busy it was, and no longer counted.
    assert clock.offset > 12 * 3600
    assert client.get("/api/auth/me").status_code == 401
    assert active_sessions(metered_app) == 0


def test_logging_in_again_on_the_same_client_replaces_the_session(metered_app, clock):
    client, _ = logged_in(metered_app, "bob")
    assert login(client, "bob", PASSWORDS["bob"]).status_code == 200
    # The new session replaces the old one, which is no longer counted.
    assert active_sessions(metered_app) == 1
    clock.advance(minutes=61)
    assert active_sessions(metered_app) == 0

"""Security headers on every response, error pages included, and HTTPS behind the
trusted proxy: HSTS only over HTTPS, plain HTTP redirected or refused when enforced."""

from __future__ import annotations

import pytest
from ades.hardening.headers import SECURITY_HEADERS
from hardening_world import PROXY_IP, bearer, login

SEED_FIVE = ("X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
             "Content-Security-Policy", "Strict-Transport-Security")
HTTPS_VIA_PROXY = {"headers": {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
                   "environ_base": {"REMOTE_ADDR": PROXY_IP}}


def assert_security_headers(response, *, https: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert ("Strict-Transport-Security" in response.headers) is https


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/healthz", 200),
    ("GET", "/no/such/page", 404),
    ("DELETE", "/healthz", 405),
    ("GET", "/boom", 500),
    ("GET", "/api/items", 401),
    ("POST", "/api/auth/login", 400),
])
def test_every_response_carries_the_security_headers(make_app, method, path, status):
    app = make_app()
    response = app.test_client().open(path, method=method)
    assert response.status_code == status
    assert_security_headers(response, https=False)
    https = app.test_client().open(path, method=method, **HTTPS_VIA_PROXY)
    assert https.status_code == status
    assert_security_headers(https, https=True)
    assert set(SEED_FIVE) <= set(https.headers.keys())


def test_forbidden_blocked_and_rate_limited_answers_carry_them_too(make_app, world):
    app = make_app(security={"rate_limit": "1/minute"})
    client = app.test_client()
    assert_security_headers(client.get("/api/settings", headers=bearer(world.read_token)),
                            https=False)
    assert_security_headers(client.get("/api/items?q=<script>alert(1)</script>",
                                       headers=bearer(world.read_token)), https=False)
    limited = client.get("/api/items", headers=bearer(world.read_token))
    assert limited.status_code == 429
    assert_security_headers(limited, https=False)


def test_hsts_is_not_taken_from_an_untrusted_forwarded_proto(make_app):
    app = make_app(security={"trusted_proxy_hops": 0})
    response = app.test_client().get("/healthz", **HTTPS_VIA_PROXY)
    assert "Strict-Transport-Security" not in response.headers


def test_a_view_may_set_its_own_policy(make_app):
    from ades.hardening import public
    from flask import Blueprint, make_response

    extra = Blueprint("framed", __name__)

    @extra.get("/embeddable")
    @public
    def embeddable():
        response = make_response("ok")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    response = make_app(extra=extra).test_client().get("/embeddable")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_enforced_https_redirects_reads_and_refuses_writes_over_plain_http(make_app):
    app = make_app(security={"enforce_https": True})
    client = app.test_client()
    read = client.get("/api/items?q=1", environ_base={"REMOTE_ADDR": PROXY_IP},
                      headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.7"})
    assert read.status_code == 308
    assert read.headers["Location"] == "https://localhost/api/items?q=1"
    assert "Strict-Transport-Security" in read.headers
    write = client.post("/api/auth/login", json={"username": "bob", "password": "x" * 10})
    assert write.status_code == 403 and write.get_json() == {"error": "HTTPS required"}
    # Probes reach pods directly over HTTP and must keep working.
    assert client.get("/healthz").status_code == 200
    secure = login(client, "bob", **HTTPS_VIA_PROXY)
    assert secure.status_code == 200
    assert client.get_cookie("ades_session").secure

"""Rate limits per real client address behind the trusted proxy, shared through Redis,
surviving a Redis outage, and blocking addresses that keep breaking them."""

from __future__ import annotations

import pytest
from ades.hardening import HardeningOptions
from ades.hardening.limits import list_blocks
from hardening_world import CLIENT_IP, PROXY_IP, bearer, kinds


def via_proxy(client_ip: str, spoofed: str | None = None) -> dict:
    """Request arguments as nginx (one trusted hop) forwards them: it appends the
    address it saw to whatever X-Forwarded-For the client sent."""
    forwarded = f"{spoofed}, {client_ip}" if spoofed else client_ip
    return {"environ_base": {"REMOTE_ADDR": PROXY_IP},
            "headers": {"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "http"}}


@pytest.fixture(params=["memory", "redis"])
def limited_app(request, make_app):
    """The demo app limited to 3 requests a minute, counting in memory or in Redis."""
    if request.param == "memory":
        return make_app(security={"rate_limit": "3/minute"})
    return make_app(security={"rate_limit": "3/minute"},
                    redis_url=request.getfixturevalue("redis_server_url"),
                    options=HardeningOptions(
                        redis_key_prefix=request.getfixturevalue("redis_prefix")))


def statuses(client, count: int, **kwargs) -> list[int]:
    return [client.get("/api/items", **kwargs).status_code for _ in range(count)]


def test_the_limit_applies_to_the_real_client_behind_the_proxy(limited_app, world):
    client = limited_app.test_client()
    token = bearer(world.read_token)
    assert statuses(client, 4, **via_proxy(CLIENT_IP)) == [401, 401, 401, 429]
    # Another client behind the same proxy has its own allowance.
    assert statuses(client, 1, **via_proxy("198.51.100.20")) == [401]
    response = client.get("/api/items", headers={**token, **via_proxy(CLIENT_IP)["headers"]},
                          environ_base={"REMOTE_ADDR": PROXY_IP})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"] == "rate limit exceeded"


def test_a_client_cannot_escape_the_limit_by_sending_its_own_forwarded_for(limited_app):
    client = limited_app.test_client()
    results = [client.get("/api/items", **via_proxy(CLIENT_IP, spoofed=f"192.0.2.{i}"))
               .status_code for i in range(4)]
    assert results == [401, 401, 401, 429]


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    app = make_app(security={"rate_limit": "2/minute", "trusted_proxy_hops": 0})
    client = app.test_client()
    results = [client.get("/api/items", **via_proxy(f"198.51.100.{i}")).status_code
               for i in range(3)]
    assert results == [401, 401, 429]  # all counted against the proxy's own address


def test_login_attempts_are_capped_per_address_across_accounts(make_app, world):
    app = make_app(options=HardeningOptions(login_rate_limit="3/minute"))
    client = app.test_client()
    names = ["alice", "bob", "carol", "dave"]
    answers = [client.post("/api/auth/login", json={"username": name, "password": "guess-123"},
                           **via_proxy(CLIENT_IP)).status_code for name in names]
    assert answers == [401, 401, 401, 429]
    other = client.post("/api/auth/login", json={"username": "bob", "password": "bob-password"},
                        **via_proxy("198.51.100.20"))
    assert other.status_code == 200
    assert "ratelimit.exceeded" in kinds(world.store)


def test_probe_and_metrics_paths_are_never_limited(limited_app):
    client = limited_app.test_client()
    assert statuses(client, 3, **via_proxy(CLIENT_IP)) == [401, 401, 401]
    assert [client.get("/healthz", **via_proxy(CLIENT_IP)).status_code
            for _ in range(10)] == [200] * 10


def test_limits_are_shared_by_workers_through_redis(make_app, redis_server_url, redis_prefix):
    options = HardeningOptions(redis_key_prefix=redis_prefix)
    workers = [make_app(security={"rate_limit": "3/minute"}, redis_url=redis_server_url,
                        options=options) for _ in range(2)]
    results = [workers[i % 2].test_client().get("/api/items", **via_proxy(CLIENT_IP))
               .status_code for i in range(4)]
    assert results == [401, 401, 401, 429]


def test_requests_still_succeed_when_redis_is_down(make_app, world, closed_port_redis_url):
    app = make_app(security={"rate_limit": "3/minute"}, redis_url=closed_port_redis_url)
    client = app.test_client()
    token = bearer(world.read_token)
    results = [client.get("/api/items", headers=token).status_code for _ in range(4)]
    # In-memory fallback: still served, and still limited.
    assert results == [200, 200, 200, 429]
    assert client.get("/healthz").status_code == 200


def test_requests_keep_succeeding_when_redis_stops_mid_test(make_app, world,
                                                            throwaway_redis):
    app = make_app(security={"rate_limit": "5/minute"}, redis_url=throwaway_redis.url)
    client = app.test_client()
    token = bearer(world.read_token)
    assert [client.get("/api/items", headers=token).status_code for _ in range(2)] == [200] * 2
    throwaway_redis.stop()
    results = [client.get("/api/items", headers=token).status_code for _ in range(6)]
    assert results == [200] * 5 + [429]  # counted again from zero, in memory
    assert client.get("/healthz").status_code == 200


def test_an_address_that_keeps_breaking_limits_is_blocked_and_audited(make_app, world):
    options = HardeningOptions(ip_block_threshold=3, ip_block_seconds=600)
    app = make_app(security={"rate_limit": "2/minute"}, options=options)
    client = app.test_client()
    results = statuses(client, 5, **via_proxy(CLIENT_IP))
    assert results == [401, 401, 429, 429, 429]
    # Blocked now: every path (but the probes), even with a valid token.
    blocked = client.get("/api/auth/me", headers={**bearer(world.read_token),
                                                  **via_proxy(CLIENT_IP)["headers"]},
                         environ_base={"REMOTE_ADDR": PROXY_IP})
    assert blocked.status_code == 403 and int(blocked.headers["Retry-After"]) > 500
    assert client.get("/healthz", **via_proxy(CLIENT_IP)).status_code == 200
    assert statuses(client, 1, **via_proxy("198.51.100.20")) == [401]
    assert [b.ip for b in list_blocks(world.store)] == [CLIENT_IP]
    assert kinds(world.store) == ["ratelimit.exceeded", "ip.blocked"]

    # Another service sharing the database honours the block.
    other = make_app(options=options)
    assert other.test_client().get("/api/items", **via_proxy(CLIENT_IP)).status_code == 403

    admin = app.test_client()
    csrf = admin.post("/api/auth/login", json={"username": "alice",
                                                "password": "alice-password"}).get_json()
    lifted = admin.delete(f"/api/admin/blocks/{CLIENT_IP}",
                          headers={"X-CSRF-Token": csrf["csrf_token"]})
    assert lifted.status_code == 200
    assert list_blocks(world.store) == []
    assert "ip.unblocked" in kinds(world.store)


def test_violations_are_counted_in_redis_when_configured(make_app, world, redis_server_url,
                                                         redis_prefix):
    import redis

    options = HardeningOptions(redis_key_prefix=redis_prefix, ip_block_threshold=3)
    workers = [make_app(security={"rate_limit": "1/minute"}, redis_url=redis_server_url,
                        options=options) for _ in range(2)]
    results = [workers[i % 2].test_client().get("/api/items", **via_proxy(CLIENT_IP))
               .status_code for i in range(4)]
    assert results == [401, 429, 429, 429]  # violations seen by worker 1, 0, then 1
    server = redis.Redis.from_url(redis_server_url)
    try:
        assert int(server.get(f"{redis_prefix}abuse:{CLIENT_IP}")) == 3
    finally:
        server.close()
    assert workers[1].test_client().get("/api/items", **via_proxy(CLIENT_IP)).status_code == 403
    assert [b.ip for b in list_blocks(world.store)] == [CLIENT_IP]

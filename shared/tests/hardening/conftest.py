"""The hardening tests' world: three users, a token of each scope, and a tiny app.

    alice  admin       may do everything, including account administration
    bob    maintainer  may write (POST /api/items); owns one read and one write token,
                       so with his tokens the token scope alone decides
    carol  viewer      may read only

`make_app(...)` builds a small Flask app with `init_app` and a few routes declared with
`requires(...)`/`public`, on the test's store (SQLite or PostgreSQL, via `backend`).
Redis tests use the real server at ADES_TEST_REDIS_URL (default redis://127.0.0.1:6379)
with a key prefix unique to the test, deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from ades.config import load_config
from ades.hardening import HardeningOptions, admin_bp, auth_bp, init_app, tokens, users
from ades.storage import open_store
from argon2 import PasswordHasher
from flask import Blueprint, Flask
from hardening_world import PASSWORDS, SECRET, World, demo


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """argon2id with minimal cost: the tests check behaviour, not hashing strength."""
    monkeypatch.setattr(users, "PASSWORD_HASHER",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users._dummy_hash.cache_clear()
    yield
    users._dummy_hash.cache_clear()


@pytest.fixture
def store(request, backend, tmp_path):
    """A fresh, migrated store on the backend under test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ades.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with open_store(url, pool_max=4) as opened:
        yield opened


@pytest.fixture
def world(store) -> World:
    alice = users.create_user(store, "alice", PASSWORDS["alice"], "admin")
    bob = users.create_user(store, "bob", PASSWORDS["bob"], "maintainer")
    carol = users.create_user(store, "carol", PASSWORDS["carol"], "viewer")
    read_meta, read_token = tokens.create_token(store, "bob", "read", "bob's reader")
    write_meta, write_token = tokens.create_token(store, "bob", "write", "bob's writer")
    return World(store, alice, bob, carol, read_token, write_token, read_meta.id,
                 write_meta.id)


@pytest.fixture(scope="session")
def redis_server_url():
    """The real Redis server the tests use; skipped (failed in CI) when unreachable."""
    import redis

    url = os.environ.get("ADES_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {url} unavailable: {exc}")
        pytest.skip(f"Redis at {url} unavailable")
    finally:
        client.close()
    return url


@pytest.fixture
def redis_prefix(redis_server_url):
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    import redis

    prefix = f"ades-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_server_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def throwaway_redis(tmp_path):
    """A private redis-server on a free port, for tests that stop it: yields a handle
    with `.url` and `.stop()`; stopped at the end in any case."""
    import shutil
    import subprocess
    import time

    import redis
    from pgserver import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server not installed")
        pytest.skip("redis-server not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    class Handle:
        url = f"redis://127.0.0.1:{port}/0"

        @staticmethod
        def stop() -> None:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)

    client = redis.Redis.from_url(Handle.url, socket_connect_timeout=0.2)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("throwaway redis-server did not start")
    finally:
        client.close()
    yield Handle
    Handle.stop()


@pytest.fixture
def closed_port_redis_url():
    """A Redis URL where nothing listens (the port was free a moment ago)."""
    from pgserver import free_port

    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def make_app(world, tmp_path):
    """Build a hardened demo app: `make_app(security={...}, redis_url=..., options=...)`."""

    def build(*, security: dict | None = None, redis_url: str | None = None,
              options: HardeningOptions | None = None, extra: Blueprint | None = None,
              data_dir: Path | None = None) -> Flask:
        config = load_config({}, overrides={
            "server": {"data_dir": data_dir or tmp_path / "data", "redis_url": redis_url},
            "security": {"secret_key": SECRET, "rate_limit": "1000/minute",
                         "trusted_proxy_hops": 1, **(security or {})},
        })
        app = Flask(__name__)
        app.config["PROPAGATE_EXCEPTIONS"] = False  # let the 500 handler answer
        init_app(app, lambda: world.store, config, options=options or HardeningOptions())
        app.register_blueprint(demo)
        app.register_blueprint(auth_bp)
        app.register_blueprint(admin_bp)
        if extra is not None:
            app.register_blueprint(extra)
        return app

    return build

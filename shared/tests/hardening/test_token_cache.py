"""Resolved API tokens kept in memory, and forgotten when PostgreSQL notifies a change.

Every change is made the way another process would make it — plain SQL on a connection of
its own — so only the LISTEN/NOTIFY path can tell this process's cache about it.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from ades.hardening import token_cache, tokens, users
from ades.hardening.token_cache import TokenCache
from ades.storage import open_store


class CountingStore:
    """A real store that counts the token lookups that reach the database."""

    def __init__(self, inner):
        self.inner = inner
        self.lookups = 0

    def query_dicts(self, sql, params=()):
        self.lookups += 1
        return self.inner.query_dicts(sql, params)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def pg(postgres_url):
    store = open_store(postgres_url)
    users.create_user(store, "ada", "a long enough password", "maintainer")
    _, plaintext = tokens.create_token(store, "ada", "read")
    cache = token_cache.cache_for(store, 30)
    assert cache is not None
    yield CountingStore(store), plaintext, cache, postgres_url
    token_cache.close_for(store.url)
    store.close()


def wait_listening(cache: TokenCache, timeout: float = 5.0) -> None:
    cache.generation()  # starts the listener
    deadline = time.monotonic() + timeout
    while not cache.listening:
        assert time.monotonic() < deadline, "the listener did not connect"
        time.sleep(0.02)


def from_another_process(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def resolves_within(store, plaintext, cache, predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(tokens.resolve_token(store, plaintext, cache=cache)):
            return True
        time.sleep(0.02)
    return False


def test_a_resolved_token_is_then_found_in_memory(pg):
    store, plaintext, cache, _ = pg
    wait_listening(cache)
    first = tokens.resolve_token(store, plaintext, cache=cache)
    assert first is not None and first[2] is True  # first use: last_used_at recorded
    lookups = store.lookups
    for _ in range(20):
        user, token, touched = tokens.resolve_token(store, plaintext, cache=cache)
        assert (user.username, token.scope, touched) == ("ada", "read", False)
    assert store.lookups == lookups


def test_a_revocation_elsewhere_is_honoured_at_once(pg):
    store, plaintext, cache, url = pg
    wait_listening(cache)
    assert tokens.resolve_token(store, plaintext, cache=cache) is not None
    from_another_process(url, "UPDATE api_tokens SET revoked_at = 1")
    assert resolves_within(store, plaintext, cache, lambda r: r is None, timeout=1.0)


@pytest.mark.parametrize("sql, seen", [
    ("UPDATE users SET role = 'viewer'", lambda r: r is not None and r[0].role == "viewer"),
    ("UPDATE users SET disabled = TRUE", lambda r: r is None),
    ("UPDATE api_tokens SET scope = 'write'", lambda r: r is not None and r[1].scope == "write"),
    ("DELETE FROM api_tokens", lambda r: r is None),
])
def test_account_and_token_changes_elsewhere_are_honoured(pg, sql, seen):
    store, plaintext, cache, url = pg
    wait_listening(cache)
    assert tokens.resolve_token(store, plaintext, cache=cache) is not None
    from_another_process(url, sql)
    assert resolves_within(store, plaintext, cache, seen, timeout=1.0)


def test_revoking_in_this_process_is_honoured_before_any_notification(pg):
    store, plaintext, cache, _ = pg
    wait_listening(cache)
    user, token, _ = tokens.resolve_token(store, plaintext, cache=cache)
    tokens.revoke_token(store, token.id)
    assert tokens.resolve_token(store, plaintext, cache=cache) is None
    users.set_disabled(store, "ada", True)  # and for accounts too
    assert tokens.resolve_token(store, plaintext, cache=cache) is None


def test_last_use_bookkeeping_does_not_empty_the_cache(pg):
    store, plaintext, cache, url = pg
    wait_listening(cache)
    tokens.resolve_token(store, plaintext, cache=cache)
    generation = cache.generation()
    from_another_process(url, "UPDATE api_tokens SET last_used_at = last_used_at + 1")
    from_another_process(url, "UPDATE users SET failed_logins = 3")
    time.sleep(0.3)
    assert cache.generation() == generation


def test_nothing_is_served_while_the_listener_is_down(pg):
    store, plaintext, cache, url = pg
    wait_listening(cache)
    tokens.resolve_token(store, plaintext, cache=cache)
    # PostgreSQL drops the listening connection (a restart, a failover).
    from_another_process(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query = 'LISTEN ades_auth'")
    deadline = time.monotonic() + 3
    while cache.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    lookups = store.lookups
    tokens.resolve_token(store, plaintext, cache=cache)
    assert not cache.listening and store.lookups == lookups + 1
    # A revocation while nobody listens is still honoured, and the listener comes back.
    from_another_process(url, "UPDATE api_tokens SET revoked_at = 1")
    assert tokens.resolve_token(store, plaintext, cache=cache) is None
    wait_listening(cache)


def test_entries_expire_after_their_maximum_age(postgres_url):
    now = [1000.0]
    cache = TokenCache(lambda: psycopg.connect(postgres_url, autocommit=True), max_age=30,
                       clock=lambda: now[0])
    try:
        wait_listening(cache)
        cache.put("k", "v", cache.generation())
        assert cache.get("k") == "v"
        now[0] += 31
        assert cache.get("k") is None
    finally:
        cache.close()


def test_a_value_read_before_a_change_is_not_kept(postgres_url):
    cache = TokenCache(lambda: psycopg.connect(postgres_url, autocommit=True))
    try:
        wait_listening(cache)
        generation = cache.generation()
        cache.forget()  # a notification arrives while the value was being read
        cache.put("k", "stale", generation)
        assert cache.get("k") is None
    finally:
        cache.close()


def test_no_cache_on_sqlite_or_when_switched_off(tmp_path, postgres_url):
    sqlite = open_store(f"sqlite:///{tmp_path}/a.db")
    pg = open_store(postgres_url)
    try:
        assert token_cache.cache_for(sqlite, 30) is None
        assert token_cache.cache_for(pg, 0) is None
    finally:
        sqlite.close()
        pg.close()

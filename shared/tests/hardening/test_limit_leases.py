"""Rate-limit counts reserved in leases (`ades.hardening.limit_leases`), on a real Redis:
never more admitted than the limit across workers, few round trips for a busy client,
one request at a time for small limits, and no lease outliving its window."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from ades.hardening.limit_leases import LEASE_SHARE_OF_LIMIT, MAX_LEASE, LeasedRedisStorage, limit_of
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter


@pytest.fixture
def workers(redis_server_url, redis_prefix):
    """Three storages over one Redis, as three workers see it; each counts its round trips
    that count (a lease's reservation, or limits' own one-at-a-time script)."""
    made = []
    for _ in range(3):
        storage = storage_from_string("ades+" + redis_server_url, key_prefix=f"{redis_prefix}limits")
        assert isinstance(storage, LeasedRedisStorage)
        storage.reservations = 0
        for name in ("_reserve", "lua_incr_expire"):
            script = getattr(storage, name)

            def counted(*args, _storage=storage, _script=script, **kwargs):
                _storage.reservations += 1
                return _script(*args, **kwargs)

            setattr(storage, name, counted)
        made.append(storage)
    yield made
    for storage in made:
        storage.get_connection().close()


def test_the_limit_is_read_from_the_keys_that_limits_builds():
    assert limit_of(parse("300/minute").key_for("203.0.113.7", "ui.search")) == 300
    assert limit_of(parse("5 per 10 seconds").key_for("login", "::1")) == 5
    assert limit_of("no-shape") is None


def test_workers_never_admit_more_than_the_limit_and_only_a_few_early_refusals(workers):
    item = parse("5000/minute")
    limiters = [FixedWindowRateLimiter(s) for s in workers]
    rng = random.Random(4)
    admitted = sum(rng.choice(limiters).hit(item, "203.0.113.7", "ui.search")
                   for _ in range(7000))
    assert admitted <= 5000
    # Unused slots of the leases still held are the only loss.
    cap = min(MAX_LEASE, int(5000 * LEASE_SHARE_OF_LIMIT))
    assert admitted >= 5000 - len(workers) * cap
    assert sum(s.reservations for s in workers) < 7000 / 4


def test_every_admitted_request_has_its_own_slot(workers):
    key = parse("100000/minute").key_for("203.0.113.7", "ui.search")
    slots = [s.incr(key, 60) for s, _ in zip(itertools.cycle(workers), range(3000), strict=False)]
    assert len(set(slots)) == len(slots)
    assert max(slots) <= int(workers[0].get(key))


def test_small_limits_are_counted_one_request_at_a_time(workers):
    # 1% of 150 is one slot: every hit is an INCRBY of one, as without leases.
    item = parse("150/minute")
    limiter = FixedWindowRateLimiter(workers[0])
    results = [limiter.hit(item, "203.0.113.7", "ui.search") for _ in range(160)]
    assert results == [True] * 150 + [False] * 10
    assert workers[0].get(item.key_for("203.0.113.7", "ui.search")) == 160


def test_a_busy_client_costs_few_round_trips(workers):
    item = parse("1000000/hour")
    limiter = FixedWindowRateLimiter(workers[0])
    assert all(limiter.hit(item, "203.0.113.7", "ui.search") for _ in range(2000))
    assert workers[0].reservations < 100


def test_a_lease_ends_with_its_window(workers):
    item = parse("400/2 seconds")
    limiter = FixedWindowRateLimiter(workers[0])
    while limiter.hit(item, "203.0.113.7", "ui.search"):
        pass
    time.sleep(2.2)
    # A new window: its first slot, not one left over from the old window's lease.
    assert workers[0].incr(item.key_for("203.0.113.7", "ui.search"), 2) == 1


def test_clearing_a_key_drops_its_lease(workers):
    item = parse("20000/minute")
    limiter = FixedWindowRateLimiter(workers[0])
    for _ in range(500):
        limiter.hit(item, "203.0.113.7", "ui.search")
    workers[0].clear(item.key_for("203.0.113.7", "ui.search"))
    assert workers[0].incr(item.key_for("203.0.113.7", "ui.search"), 60) == 1

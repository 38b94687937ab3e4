"""Fixed-window rate-limit counters in Redis, reserved in leases.

flask-limiter counts every request in Redis: one round trip (INCRBY + EXPIRE in a script)
before the view runs. Under load that round trip is the largest single cost of a cheap
request, and under gevent it is also a wait in the worker's queue. This storage (scheme
`ades+redis://...`, used by `ades.hardening.limits` whenever Redis is configured) takes
counts from the window's counter in leases: a worker that sees a client hit a limit
often reserves the next n slots with one INCRBY and hands them out itself, one per
request. Each request still gets its own slot number in the window's global sequence and
is admitted only when that number is within the limit, so all workers and pods together
never admit more than the limit, exactly as with one INCRBY per request.

What a lease can cost is the other way round: slots reserved by one worker and not used
before the window ends count against the client, who may be refused before reaching the
limit. Leases are therefore kept small: at most 1% of the limit (so limits under 200 per
window, the defaults among them, are counted one request at a time as before) and at
most `MAX_LEASE`; a lease doubles while the previous one lasted under `LEASE_SECONDS`
and halves when it lasted much longer, so only a client sending many requests a second
gets leases of any size. Two requests of one worker that both find the lease used up
both reserve; the later lease replaces the earlier and its unused slots are lost, which
again can only refuse early, never admit more.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

from limits.storage import RedisStorage

# A lease should last about this long at the client's current rate.
LEASE_SECONDS = 0.05
MAX_LEASE = 100
# A lease is at most this share of the limit.
LEASE_SHARE_OF_LIMIT = 0.01
# Client keys whose lease a worker remembers (least recently used dropped first).
MAX_LEASED_KEYS = 10_000

# INCRBY with EXPIRE on the window's first count (as limits' own script), plus the time the
# window has left, which bounds how long the lease may be used.
_RESERVE = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('PTTL', KEYS[1])}
"""


@dataclass
class _Lease:
    next_slot: int
    last_slot: int
    size: int
    reserved_at: float
    expires_at: float


def limit_of(key: str) -> int | None:
    """The limit's amount from a key of `limits` (`LIMITER/<ids>/<amount>/<multiples>/<unit>`),
    or None when the key does not have that shape (then counting is not leased)."""
    parts = key.rsplit("/", 3)
    if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1])
    return None


def lease_size(previous: _Lease | None, now: float, cap: int) -> int:
    """How many slots to reserve next, after `previous` (None: the key's first lease)."""
    if previous is None:
        return 1
    lasted = now - previous.reserved_at
    size = previous.size
    if previous.next_slot > previous.last_slot and lasted < LEASE_SECONDS:
        size *= 2
    elif lasted > 4 * LEASE_SECONDS:
        size //= 2
    return max(1, min(size, cap))


class LeasedRedisStorage(RedisStorage):
    """`RedisStorage` whose fixed-window counts are reserved in leases (see the module)."""

    STORAGE_SCHEME = ["ades+redis", "ades+rediss", "ades+redis+unix"]

    def __init__(self, uri: str, **options: float | str | bool) -> None:
        self._leases: collections.OrderedDict[str, _Lease] = collections.OrderedDict()
        self._lock = threading.Lock()
        super().__init__(uri.removeprefix("ades+"), **options)  # type: ignore[arg-type]

    def initialize_storage(self, uri: str) -> None:
        """Register limits' scripts and the lease script."""
        super().initialize_storage(uri)
        self._reserve = self.get_connection().register_script(_RESERVE)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """The slot number of this hit in the key's window (admitted when within the limit)."""
        limit = limit_of(key)
        cap = min(MAX_LEASE, int((limit or 0) * LEASE_SHARE_OF_LIMIT))
        if amount != 1 or cap <= 1:
            return super().incr(key, expiry, amount)
        now = time.monotonic()
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and now < lease.expires_at and lease.next_slot <= lease.last_slot:
                lease.next_slot += 1
                return lease.next_slot - 1
            size = lease_size(lease, now, cap)
        count, ttl_ms = self._reserve([self.prefixed_key(key)], [expiry, size])
        first = int(count) - size + 1
        with self._lock:
            self._leases[key] = _Lease(first + 1, int(count), size, now,
                                       now + max(0, int(ttl_ms)) / 1000)
            self._leases.move_to_end(key)
            while len(self._leases) > MAX_LEASED_KEYS:
                self._leases.popitem(last=False)
        return first

    def clear(self, key: str) -> None:
        """Reset the key's window, here and in Redis."""
        with self._lock:
            self._leases.pop(key, None)
        super().clear(key)

    def reset(self) -> int | None:
        """Reset every window, here and in Redis."""
        with self._lock:
            self._leases.clear()
        return super().reset()

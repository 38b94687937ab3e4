"""Per-client rate limiting (flask-limiter) and temporary blocking of abusive addresses.

Limits are counted per client address (as ProxyFix established it) and endpoint, with
`security.rate_limit` as the default for every endpoint except the probe and metrics
paths, and login attempts are capped further (`login_rate_limit`). The counters live
in Redis when `GAIT_REDIS_URL` is set, so all workers and pods share them (a client
sending many requests a second is counted in leases: `ades.hardening.limit_leases`); without
Redis, or while Redis is unreachable, each process counts in memory (flask-limiter's
in-memory fallback) and errors are swallowed: a Redis outage never turns into a 500.

An address that breaks its limit `ip_block_threshold` times within
`ip_block_window_seconds` is blocked for `ip_block_seconds` (403 on every request).
Violations are counted in Redis (else per process); blocks are rows of `ip_blocks` in
the database, so every service honours them and admins can list and lift them.

One Limiter is built per app, inside `init_app`: flask-limiter keeps its storage and its
"storage is down" state on the Limiter object, so a module-level instance shared by
several apps (as in the tests) would let one app's storage leak into another's.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RequestLimit
from limits import parse as parse_limit

from ..storage import StorageError, Store
from . import limit_leases  # noqa: F401 -- registers the "ades+redis" storage scheme
from .context import HardeningState, audit_request, client_ip, is_exempt_path, json_error, state

if TYPE_CHECKING:
    import redis

log = logging.getLogger("ades.hardening")

LIMITER_KEY = "ades.limiter"
TRACKER_KEY = "ades.abuse"
# How long a process trusts its copy of the block list before reading the table again.
BLOCK_CACHE_SECONDS = 5.0
_MEMORY_TRACKED_ADDRESSES = 10_000


@dataclass(frozen=True)
class IpBlock:
    """A blocked client address."""

    ip: str
    blocked_until: int
    reason: str
    created_at: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data."""
        return {"ip": self.ip, "blocked_until": self.blocked_until, "reason": self.reason,
                "created_at": self.created_at}


def block_ip(store: Store, ip: str, seconds: int, reason: str, *,
             now: float | None = None) -> IpBlock:
    """Block `ip` for `seconds` (extending any existing block)."""
    now = time.time() if now is None else now
    until = int(now + seconds)
    with store.transaction() as tx:
        tx.execute("INSERT INTO ip_blocks (ip, blocked_until, reason, created_at) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (ip) DO UPDATE SET "
                   "blocked_until = excluded.blocked_until, reason = excluded.reason",
                   (ip, until, reason[:200], int(now)))
    return IpBlock(ip, until, reason[:200], int(now))


def unblock_ip(store: Store, ip: str) -> bool:
    """Lift the block on `ip`; False when it was not blocked."""
    with store.transaction() as tx:
        cur = tx.execute("DELETE FROM ip_blocks WHERE ip = ?", (ip,))
        return cur.rowcount > 0


def list_blocks(store: Store, *, now: float | None = None) -> list[IpBlock]:
    """Blocks still in force, soonest to expire first."""
    rows = store.query_dicts("SELECT ip, blocked_until, reason, created_at FROM ip_blocks "
                             "WHERE blocked_until > ? ORDER BY blocked_until",
                             (int(time.time() if now is None else now),))
    return [IpBlock(**row) for row in rows]


class AbuseTracker:
    """Counts rate-limit violations per address and blocks repeat offenders."""

    def __init__(self, hardening: HardeningState) -> None:
        self.options = hardening.options
        self.redis: redis.Redis | None = hardening.redis
        self._lock = threading.Lock()
        self._violations: collections.OrderedDict[str, collections.deque[float]] = \
            collections.OrderedDict()
        self._blocks: dict[str, int] = {}
        self._blocks_read_at = float("-inf")

    def note_violation(self, ip: str, now: float | None = None) -> int:
        """Count one violation by `ip`; returns its count within the window."""
        now = time.time() if now is None else now
        if self.redis is not None:
            import redis

            key = f"{self.options.redis_key_prefix}abuse:{ip}"
            try:
                pipe = self.redis.pipeline()
                # The window starts at the first violation (SET NX), then only counts.
                pipe.set(key, 0, ex=self.options.ip_block_window_seconds, nx=True)
                pipe.incr(key)
                _, count = pipe.execute()
                return int(count)
            except redis.RedisError as exc:
                log.warning("abuse counter unavailable in Redis, counting in memory: %s", exc)
        return self._count_in_memory(ip, now)

    def _count_in_memory(self, ip: str, now: float) -> int:
        with self._lock:
            hits = self._violations.pop(ip, None) or collections.deque()
            hits.append(now)
            while hits and hits[0] <= now - self.options.ip_block_window_seconds:
                hits.popleft()
            self._violations[ip] = hits
            while len(self._violations) > _MEMORY_TRACKED_ADDRESSES:
                self._violations.popitem(last=False)
            return len(hits)

    def blocked_until(self, store_getter: Callable[[], Store], ip: str,
                      now: float | None = None) -> int | None:
        """When the block on `ip` ends, or None when it is not blocked.

        While the database is unreachable the last list read stays in force, so an
        outage neither fails every request nor lifts the blocks.
        """
        now = time.time() if now is None else now
        if now - self._blocks_read_at > BLOCK_CACHE_SECONDS:
            try:
                blocks = {b.ip: b.blocked_until for b in list_blocks(store_getter(), now=now)}
            except StorageError as exc:
                log.warning("cannot read ip_blocks, using the cached list: %s", exc)
            else:
                with self._lock:
                    self._blocks, self._blocks_read_at = blocks, now
        until = self._blocks.get(ip)
        return until if until is not None and until > now else None

    def remember_block(self, block: IpBlock) -> None:
        """Apply a block in this process at once, without waiting for the next read."""
        with self._lock:
            self._blocks[block.ip] = block.blocked_until

    def forget(self, ip: str) -> None:
        """Drop `ip` from this process's cache and counters (after an unblock)."""
        with self._lock:
            self._blocks.pop(ip, None)
            self._violations.pop(ip, None)


def tracker(app: Flask | None = None) -> AbuseTracker:
    """The abuse tracker of `app` (default: the current app)."""
    return (app or current_app).extensions[TRACKER_KEY]


def limiter_for(app: Flask | None = None) -> Limiter:
    """The Limiter bound to `app` (default: the current app), to add per-route limits."""
    return (app or current_app).extensions[LIMITER_KEY]


def refuse_blocked_clients() -> Response | None:
    """Before-request hook: 403 for a blocked address (probe paths excepted)."""
    if is_exempt_path():
        return None
    until = tracker().blocked_until(state().store_getter, client_ip())
    if until is None:
        return None
    retry = max(1, int(until - time.time()))
    return json_error(403, "too many requests from your address; try again later",
                      {"Retry-After": str(retry)}, retry_after=retry)


def _on_breach(limit: RequestLimit) -> Response:
    try:
        reset_at = float(limit.reset_at)
    except Exception:  # the limit's storage may have just failed; any hint will do
        reset_at = time.time() + 60
    return _breached(str(limit.limit), reset_at)


def _breached(description: str, reset_at: float) -> Response:
    """Count the violation, block a repeat offender, and answer 429."""
    hardening, ip = state(), client_ip()
    count = tracker().note_violation(ip)
    if count == 1:
        audit_request("ratelimit.exceeded", detail={"limit": description})
    options = hardening.options
    # Another worker may have blocked the address already; this one learns of it from
    # the table within BLOCK_CACHE_SECONDS, and re-blocking meanwhile is harmless.
    if count >= options.ip_block_threshold and \
            tracker().blocked_until(hardening.store_getter, ip) is None:
        try:
            block = block_ip(hardening.store, ip, options.ip_block_seconds,
                             f"{count} rate-limit violations")
        except StorageError as exc:
            log.error("cannot record the block of %s: %s", ip, exc)
        else:
            tracker().remember_block(block)
            audit_request("ip.blocked", detail={"violations": count,
                                                "blocked_until": block.blocked_until})
    retry = max(1, int(reset_at - time.time()))
    return json_error(429, "rate limit exceeded", {"Retry-After": str(retry)},
                      retry_after=retry)


def limit_logins() -> Response | None:
    """Before-request hook: at most `login_rate_limit` login attempts per address.

    Lockout protects each account; this stops one address from trying many accounts.
    It shares the Limiter's storage and, like it, lets requests through when that
    storage fails.
    """
    if request.endpoint != "auth.login" or request.method != "POST":
        return None
    item = parse_limit(state().options.login_rate_limit)
    strategy, ip = limiter_for().limiter, client_ip()
    try:
        if strategy.hit(item, "login", ip):
            return None
        reset_at = strategy.get_window_stats(item, "login", ip).reset_time
    except Exception as exc:  # any storage failure: fail open, as the Limiter does
        log.warning("login rate limit unavailable: %s", exc)
        return None
    return _breached(f"{item} (logins)", reset_at)


def _storage_uri(redis_url: str) -> str:
    # Counted in leases (`limit_leases`, registered with limits under "ades+"); limits
    # spells Redis over a Unix socket "redis+unix://".
    return "ades+" + ("redis+unix://" + redis_url.removeprefix("unix://")
                      if redis_url.startswith("unix://") else redis_url)


def init_limits(app: Flask, hardening: HardeningState) -> Limiter:
    """Bind the block check, then a Limiter with the configured default, to `app`."""
    app.extensions[TRACKER_KEY] = AbuseTracker(hardening)
    app.before_request(refuse_blocked_clients)

    redis_url = hardening.config.server.redis_url
    options = hardening.options
    storage_options: dict[str, str | int | float] = {}
    if redis_url:
        storage_options = {"socket_timeout": options.redis_timeout_seconds,
                           "socket_connect_timeout": options.redis_timeout_seconds,
                           "key_prefix": f"{options.redis_key_prefix}limits"}
    limiter = Limiter(
        key_func=client_ip,
        default_limits=[hardening.config.security.rate_limit],
        storage_uri=_storage_uri(redis_url) if redis_url else "memory://",
        storage_options=storage_options,  # type: ignore[arg-type]
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        # No X-RateLimit-* headers: flask-limiter reads the window back after each hit to
        # fill them, two more storage round trips on every request. A refused request
        # still says when to come back (Retry-After, from `_on_breach`).
        headers_enabled=False,
        on_breach=_on_breach,
    )
    limiter.request_filter(is_exempt_path)
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    app.before_request(limit_logins)
    return limiter

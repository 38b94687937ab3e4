"""Redis connections whose calls do not give way to other greenlets.

Under gunicorn's gevent worker every socket is cooperative: a Redis GET sends its command,
then parks the request's greenlet until the reply is readable, and every other ready
request of the worker runs first. Under load that is ~16 requests of about 1 ms each, so a
GET that Redis answers in 0.05 ms costs the waiting request 15-30 ms, twice per computed
search (look up, store). For the shared query cache — tiny commands to a Redis on the same
host or network — waiting in place is far cheaper than queueing: these connections use a
plain blocking socket with a short timeout, so a hung Redis costs the worker at most that
timeout, once per breaker window of the shared tier (`SharedTier.breaker_seconds`).

TLS connections stay cooperative (gevent's ssl module wraps the socket itself).
"""

from __future__ import annotations

import socket
from functools import cache

# A shared-cache command that takes longer than this is slower than computing the answer;
# it also bounds how long a hung Redis can hold the whole worker.
BLOCKING_TIMEOUT_SECONDS = 0.1


def blocking_socket(sock: socket.socket) -> socket.socket:
    """`sock` as a plain (non-cooperative) socket when gevent has patched `socket`.

    Keeps the descriptor, the connection and the timeout; returns `sock` itself when the
    process is not monkey-patched (a sync worker, the CLI, tests without gevent).
    """
    original = _original_socket_class()
    if original is None or type(sock) is original:
        return sock
    timeout = sock.gettimeout()
    family, kind, proto = sock.family, sock.type, sock.proto
    plain = original(family, kind, proto, fileno=sock.detach())
    plain.settimeout(timeout)
    return plain


def _original_socket_class() -> type[socket.socket] | None:
    try:
        from gevent import monkey
    except ImportError:  # gevent is a dependency, but the library works without it
        return None
    if not monkey.is_module_patched("socket"):
        return None
    return monkey.get_original("socket", "socket")


@cache
def blocking_connection_class(connection_class: type) -> type:
    """A subclass of redis-py's `connection_class` whose sockets block (see module doc).

    SSL connections are returned unchanged: their socket is gevent's SSLSocket.
    """
    from redis.connection import SSLConnection

    if issubclass(connection_class, SSLConnection):
        return connection_class

    def _connect(self):
        return blocking_socket(connection_class._connect(self))

    return type(f"Blocking{connection_class.__name__}", (connection_class,),
                {"_connect": _connect, "__module__": __name__})

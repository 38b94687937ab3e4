"""Where a row's CPU went: seconds per process group from /proc, read before and after.

The load generator, the gateway, the services, PostgreSQL and Redis share one machine during
`make bench-load`; dividing each group's CPU time by the row's request count says what one
request costs each of them, which is what throughput ratios alone cannot tell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

GROUPS = ("services", "postgres", "redis", "nginx", "wrk")
_BY_NAME = {"postgres": "postgres", "redis-server": "redis", "nginx": "nginx"}
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(command name, parent pid, user+system CPU seconds) of `pid`, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(service_masters: Iterable[int]) -> dict[str, float]:
    """CPU seconds used so far by each group: the services (gunicorn masters and their
    workers), every postgres, redis-server and nginx process of the machine, and wrk."""
    masters = {int(pid) for pid in service_masters}
    totals = dict.fromkeys(GROUPS, 0.0)
    # wrk has exited by the second reading: its time is in this process's waited children.
    children = os.times()
    totals["wrk"] = children.children_user + children.children_system
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        found = _stat(pid)
        if found is None:
            continue
        name, parent, seconds = found
        if int(pid) in masters or parent in masters:
            totals["services"] += seconds
        elif name in _BY_NAME:
            totals[_BY_NAME[name]] += seconds
    return totals


def per_request_ms(before: dict[str, float], after: dict[str, float],
                   requests: int) -> dict[str, float]:
    """Each group's CPU milliseconds per request between two `cpu_seconds` readings."""
    if requests <= 0:
        return dict.fromkeys(GROUPS, 0.0)
    return {group: max(0.0, after[group] - before[group]) * 1000 / requests for group in GROUPS}

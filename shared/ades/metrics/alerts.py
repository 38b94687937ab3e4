"""Threshold alerts computed inside each worker: error rate, p95 latency, memory, disk.

Prometheus evaluates the real alert rules over all pods; these in-process numbers let a
single service say what is wrong in `/api/health/detailed` and in its own gauges, even
when no Prometheus is watching. Each worker keeps the last few minutes of its requests.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from ..config import Config
from . import instruments

WINDOW_SECONDS = 300
# Below this many requests a ratio or percentile says more about chance than about health.
MIN_SAMPLES = 20
_MAX_SAMPLES = 50_000


class RequestWindow:
    """The durations and outcomes of the requests served in the last `window_seconds`.

    Safe to share between threads and greenlets: the lock is never held across I/O.
    """

    def __init__(self, window_seconds: float = WINDOW_SECONDS, *,
                 clock: Any = time.monotonic) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=_MAX_SAMPLES)
        self._lock = threading.Lock()

    def observe(self, duration: float, status: int) -> None:
        """Record one finished request."""
        with self._lock:
            self._samples.append((self._clock(), duration, status >= 500))

    def summary(self) -> dict[str, Any]:
        """`requests`, `errors`, `error_rate` and `latency_p95_seconds` over the window."""
        horizon = self._clock() - self.window_seconds
        with self._lock:
            while self._samples and self._samples[0][0] < horizon:
                self._samples.popleft()
            samples = list(self._samples)
        errors = sum(1 for _, _, failed in samples if failed)
        durations = sorted(d for _, d, _ in samples)
        p95 = durations[max(0, math.ceil(0.95 * len(durations)) - 1)] if durations else 0.0
        return {"window_seconds": self.window_seconds, "requests": len(samples),
                "errors": errors, "error_rate": errors / len(samples) if samples else 0.0,
                "latency_p95_seconds": p95}


@dataclass(frozen=True)
class AlertReport:
    """The measured values, and one warning per threshold exceeded."""

    values: dict[str, Any]
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"values": self.values, "warnings": self.warnings}


def memory_percent() -> float:
    """Memory in use as a percentage of the cgroup (container) limit, else of physical RAM."""
    limited = _cgroup_memory_percent()
    return limited if limited is not None else float(psutil.virtual_memory().percent)


def _cgroup_memory_percent() -> float | None:
    for usage_file, limit_file in (
            ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.max"),
            ("/sys/fs/cgroup/memory/memory.usage_in_bytes",
             "/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            limit_text = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if not limit_text.isdigit():
            return None  # "max": no limit, RAM is the bound
        limit = int(limit_text)
        # cgroup v1 reports "no limit" as a huge number rather than "max".
        if limit <= 0 or limit >= psutil.virtual_memory().total:
            return None
        return 100.0 * usage / limit
    return None


def disk_percent(path: Path) -> float | None:
    """Used space on the filesystem holding `path` (its nearest existing parent), or None."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return None
    return 100.0 * usage.used / usage.total if usage.total else None


def evaluate(window: RequestWindow, config: Config) -> AlertReport:
    """Compare the window, memory and disk against the `monitoring.alert_*` thresholds.

    Also publishes the values and the firing state as gauges.
    """
    monitoring = config.monitoring
    summary = window.summary()
    memory = round(memory_percent(), 2)
    disk = disk_percent(config.data_dir)
    values = {**summary, "memory_percent": memory,
              "disk_percent": None if disk is None else round(disk, 2), "pid": os.getpid()}
    enough = summary["requests"] >= MIN_SAMPLES
    checks = (
        ("error_rate", enough and summary["error_rate"] > monitoring.alert_error_rate,
         summary["error_rate"], monitoring.alert_error_rate,
         "5xx responses are above the error-rate threshold"),
        ("latency_p95", enough and
         summary["latency_p95_seconds"] > monitoring.alert_latency_p95_seconds,
         summary["latency_p95_seconds"], monitoring.alert_latency_p95_seconds,
         "p95 latency is above the threshold"),
        ("memory", memory > monitoring.alert_memory_percent, memory,
         monitoring.alert_memory_percent, "memory use is above the threshold"),
        ("disk", disk is not None and disk > monitoring.alert_disk_percent, disk,
         monitoring.alert_disk_percent, "the data directory's disk is filling up"),
    )
    warnings = []
    for name, firing, value, threshold, message in checks:
        instruments.ALERT_FIRING.labels(alert=name).set(1 if firing else 0)
        if firing:
            warnings.append({"alert": name, "value": value, "threshold": threshold,
                             "message": message})
    instruments.ERROR_RATE.set(summary["error_rate"])
    instruments.LATENCY_P95.set(summary["latency_p95_seconds"])
    instruments.MEMORY_PERCENT.set(memory)
    return AlertReport(values, warnings)

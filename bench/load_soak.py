"""RSS of the suite's processes over a soak run: sampled with psutil, judged flat or not.

Every gunicorn worker (the children of each service's master) and the ingest worker are
sampled every `interval` seconds. A process is *flat* when its RSS at the end of the run is
within `tolerance` (10%) of its RSS at the first sample after the warm-up — the first
minutes fill caches, pools and allocator arenas, which is growth by design; what must not
happen is growth that continues under steady load. First and max are reported too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass
class ProcessTrace:
    """The RSS samples (bytes) of one process, with the times they were taken."""

    label: str
    pid: int
    times: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    def sample_at(self, when: float) -> int:
        """The first sample taken at or after `when` (the last one if none is)."""
        for t, value in zip(self.times, self.rss, strict=True):
            if t >= when:
                return value
        return self.rss[-1]


class RssSampler:
    """Samples the RSS of every process `discover()` returns, until stopped."""

    def __init__(self, discover, interval: float = 5.0) -> None:
        self.discover = discover
        self.interval = interval
        self.traces: dict[int, ProcessTrace] = {}
        self.started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        """Begin sampling now (the first sample is immediate)."""
        self.started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        now = time.monotonic() - self.started
        for label, pid in self.discover():
            try:
                rss = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
            trace = self.traces.setdefault(pid, ProcessTrace(label, pid))
            trace.times.append(now)
            trace.rss.append(rss)


def gunicorn_workers(masters: dict[str, int], extra: dict[str, int]) -> list[tuple[str, int]]:
    """(label, pid) of each master's worker processes, plus the `extra` processes."""
    found = []
    for service, pid in masters.items():
        try:
            children = psutil.Process(pid).children()
        except psutil.Error:
            continue
        found += [(f"{service} worker", child.pid) for child in children]
    return found + [(label, pid) for label, pid in extra.items()]


@dataclass
class RssVerdict:
    """One process's figures over the soak."""

    label: str
    pid: int
    first: int
    after_warmup: int
    last: int
    max: int
    samples: int
    flat: bool
    alive_to_end: bool

    @property
    def change(self) -> float:
        """Relative change from the post-warm-up sample to the last one."""
        return (self.last - self.after_warmup) / self.after_warmup if self.after_warmup else 0.0


def verdicts(traces: dict[int, ProcessTrace], warmup_seconds: float,
             tolerance: float = 0.10) -> list[RssVerdict]:
    """Each traced process judged flat (|last - after warm-up| <= tolerance) or not; a
    process that was not sampled until the end (it exited) is not flat."""
    end = max((t.times[-1] for t in traces.values() if t.times), default=0.0)
    out = []
    for trace in sorted(traces.values(), key=lambda t: (t.label, t.pid)):
        if not trace.rss:
            continue
        warm = trace.sample_at(warmup_seconds)
        last = trace.rss[-1]
        alive = trace.times[-1] >= end
        out.append(RssVerdict(trace.label, trace.pid, trace.rss[0], warm, last, max(trace.rss),
                              len(trace.rss), alive and abs(last - warm) <= tolerance * warm,
                              alive))
    return out

"""The Markdown tables of `make bench-load`: HTTP rows, websocket clients, soak RSS, machine."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass

from load_cpu import GROUPS as CPU_GROUPS
from load_soak import RssVerdict
from load_wrk import WrkResult


@dataclass
class Row:
    """One measured run and the cache lookups the services made during it."""

    name: str
    result: WrkResult
    hits: int | None = None
    misses: int | None = None
    shared_hits: int = 0
    cpu_ms: dict[str, float] | None = None  # CPU ms per request by process group (load_cpu)

    @property
    def hit_rate(self) -> str:
        """Lookups answered from a cache (the worker's own or, after a miss there, Redis)."""
        lookups = (self.hits or 0) + (self.misses or 0)
        if not lookups:
            return "-"
        answered = (self.hits or 0) + self.shared_hits
        return f"{answered / lookups:.0%} of {lookups:,} ({self.shared_hits:,} from Redis)"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def table(rows: list[Row], ceiling: float) -> list[str]:
    """The Markdown table of the HTTP rows."""
    lines = ["| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors | x healthz "
             "| query cache hits | CPU ms/request: services / postgres / redis / nginx / wrk |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        r = row.result
        cpu = (" / ".join(f"{row.cpu_ms[g]:.2f}" for g in CPU_GROUPS) if row.cpu_ms else "-")
        lines.append(f"| {row.name} | {r.requests:,} | {r.throughput:,.1f} | {_ms(r.p50)} | "
                     f"{_ms(r.p95)} | {_ms(r.p99)} | {r.errors} | "
                     f"{r.throughput / ceiling if ceiling else 0:.2f} | {row.hit_rate} | {cpu} |")
    return lines


def ws_lines(ws: dict, clients: int) -> list[str]:
    """The websocket row(s) as Markdown."""
    kinds = ", ".join(f"{k}: {v}" for k, v in ws.get("error_kinds", {}).items()) or "none"
    return ["| websocket clients | connected | messages sent / received | annotation lives "
            "| ack p50 / p95 / p99 ms | fan-out p50 / p95 / p99 ms | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
            f"| {clients} | {ws.get('connected', 0)} | {ws.get('sent', 0):,} / "
            f"{ws.get('received', 0):,} | {ws.get('annotations', 0)} | "
            f"{_ms(ws.get('ack_p50_ms', 0))} / {_ms(ws.get('ack_p95_ms', 0))} / "
            f"{_ms(ws.get('ack_p99_ms', 0))} | {_ms(ws.get('fanout_p50_ms', 0))} / "
            f"{_ms(ws.get('fanout_p95_ms', 0))} / {_ms(ws.get('fanout_p99_ms', 0))} | "
            f"{ws.get('errors', 0)} ({kinds}) |"]


def rss_lines(found: list[RssVerdict], warmup: float) -> list[str]:
    """The soak's RSS table as Markdown."""
    lines = [f"| process | pid | first MB | at {warmup:.0f} s MB | last MB | max MB | change "
             "| within 10% |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for v in found:
        flat = "yes" if v.flat else ("no (exited)" if not v.alive_to_end else "NO")
        lines.append(f"| {v.label} | {v.pid} | {v.first / 1e6:.1f} | {v.after_warmup / 1e6:.1f} | "
                     f"{v.last / 1e6:.1f} | {v.max / 1e6:.1f} | {v.change:+.1%} | {flat} |")
    return lines


def machine() -> str:
    """nproc, memory and CPU model, as the README records them."""
    memory = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1]
    model = next((line.split(":", 1)[1].strip() for line in
                  subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                  if line.startswith("Model name")), platform.processor())
    return f"{os.cpu_count()} cores, {memory.split()[1]} GiB RAM, {model}"

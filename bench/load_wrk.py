"""Running wrk with bench/load.lua and reading its one-line JSON result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "load.lua"
RESULT_MARK = "ADES_RESULT "


@dataclass
class WrkResult:
    """What one wrk run measured (latencies in milliseconds)."""

    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    statuses: dict[str, int]
    p50: float
    p95: float
    p99: float
    max: float
    distinct: int

    @property
    def throughput(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Responses outside 2xx plus connect, read, write and timeout errors."""
        return self.non2xx + self.socket_errors


class WrkError(Exception):
    """wrk failed or printed no result."""


def wrk_binary() -> str:
    """The wrk executable; WrkError when it is not installed."""
    found = shutil.which("wrk")
    if not found:
        raise WrkError("wrk is not installed (apt-get install wrk)")
    return found


def run_wrk(base_url: str, requests_file: Path, token: str, *, seconds: float, connections: int,
            threads: int = 2, timeout_seconds: float = 10) -> WrkResult:
    """Load `base_url` for `seconds` with `connections` keep-alive connections, rotating over
    the requests in `requests_file`. Requests slower than `timeout_seconds` count as errors."""
    env = {**os.environ, "ADES_LOAD_REQUESTS": str(requests_file), "ADES_LOAD_TOKEN": token,
           "ADES_LOAD_THREADS": str(threads)}
    command = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               f"--timeout={timeout_seconds:g}s", "-s", str(LUA), base_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=seconds + timeout_seconds + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise WrkError(f"wrk exited with {done.returncode}: {(done.stderr or done.stdout)[-500:]}")
    raw = json.loads(lines[-1][len(RESULT_MARK):])
    return WrkResult(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6, non2xx=raw["non2xx"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        statuses=raw["statuses"], p50=raw["p50_us"] / 1e3, p95=raw["p95_us"] / 1e3,
        p99=raw["p99_us"] / 1e3, max=raw["max_us"] / 1e3, distinct=raw["distinct"])

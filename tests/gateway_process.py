"""A real nginx running the project's gateway template, for tests that need the gateway.

`run_gateway` renders `gateway/nginx.conf.template` for a local run with `gateway/render.py`
(the same command line `ades serve` uses), points each service's upstream at the instances a
test started (several per service are balanced by nginx), starts nginx in the foreground on
a free loopback port and stops it afterwards, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pgserver import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ui", "ide", "collab", "viz")


@dataclass
class RunningGateway:
    port: int
    metrics_port: int
    directory: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[dict]:
        """nginx's JSON access log entries so far."""
        path = self.directory / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def run_gateway(tmp_path: Path, upstreams: Mapping[str, Sequence[str]], *,
                overrides: Mapping[str, str] | None = None) -> Iterator[RunningGateway]:
    """nginx with the gateway config; `upstreams` maps a service to its `host:port`s.

    Services not named point at a port nothing listens on (the gateway answers 503 there).
    `overrides` are further `render.py --set` fields (e.g. RATE_LIMIT).
    """
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise RuntimeError("nginx is not installed (.ci/run installs it)")
    directory = tmp_path / f"gateway-{free_port()}"
    port, metrics_port = free_port(), free_port()
    fields = {"LISTEN": f"127.0.0.1:{port}", "METRICS_LISTEN": f"127.0.0.1:{metrics_port}"}
    for name in SERVICES:
        fields[f"{name.upper()}_UPSTREAM"] = ",".join(upstreams.get(name) or [f"127.0.0.1:{free_port()}"])
    fields.update(overrides or {})
    conf = directory / "nginx.conf"
    subprocess.run([sys.executable, str(ROOT / "gateway" / "render.py"), "local", "--run-dir", str(directory),
                    "--out", str(conf), *[a for k, v in fields.items() for a in ("--set", f"{k}={v}")]],
                   check=True)
    process = subprocess.Popen([nginx, "-p", str(directory), "-c", str(conf),
                                "-e", str(directory / "error.log"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(f"http://127.0.0.1:{metrics_port}/healthz", process, directory)
        yield RunningGateway(port, metrics_port, directory, process)
    finally:
        stop_gateway(process)


def _wait_until_up(url: str, process: subprocess.Popen, directory: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = directory / "error.log"
            detail = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {detail}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nginx did not answer {url} within {timeout} s")


def stop_gateway(process: subprocess.Popen) -> None:
    """Graceful stop (SIGQUIT), then SIGKILL to the process group if nginx hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

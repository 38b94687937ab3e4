"""`ades serve`: the whole suite on one machine — four services, the worker, the gateway.

Each service runs under gunicorn with its own `services/<name>/gunicorn.conf.py` (ports
8080-8083, /metrics on port + 1010) and its own Prometheus multiprocess directory under
`<run dir>/prometheus-<name>`. The ingest worker (`ades worker`) is one process with its
own registry, served by its own listener (GAIT_METRICS_PORT, 9094 locally), so its memory
and ingest metrics are never mixed with a service's. When nginx is installed, the gateway renders
`gateway/nginx.conf.template` for a local run and listens on 127.0.0.1:8000.

Every child runs in its own session; SIGINT/SIGTERM to `ades serve` sends SIGTERM to all
(gunicorn drains gracefully), and if any child exits the others are stopped too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("ui", "ide", "collab", "viz")
SERVICE_PORTS = {"ui": 8080, "ide": 8081, "collab": 8082, "viz": 8083}


class ServeError(Exception):
    """The suite cannot start; the message is one line for the user."""


@dataclass
class Child:
    """One supervised process."""

    name: str
    process: subprocess.Popen


def plan(root: Path, run_dir: Path, *, worker: bool, gateway: bool,
         environ: Mapping[str, str] | None = None) -> list[tuple[str, list[str], dict[str, str]]]:
    """The processes to start, in order: (name, argv, environment)."""
    root, run_dir = Path(root).resolve(), Path(run_dir).resolve()
    for name in SERVICES:
        if not (root / "services" / name / "gunicorn.conf.py").is_file():
            raise ServeError(f"{root} has no services/{name}/gunicorn.conf.py; run from the "
                             "repository root or pass --root")
    base = {k: v for k, v in (os.environ if environ is None else environ).items()
            if k not in ("GAIT_PORT", "GAIT_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR")}
    steps = []
    for name in SERVICES:
        env = {**base, "PROMETHEUS_MULTIPROC_DIR": str(run_dir / f"prometheus-{name}")}
        steps.append((name, [sys.executable, "-m", "gunicorn", "-c",
                             str(root / "services" / name / "gunicorn.conf.py")], env))
    if worker:
        steps.append(("worker", [sys.executable, "-m", "ades", "worker"], dict(base)))
    if gateway:
        nginx = shutil.which("nginx")
        if nginx is None:
            raise ServeError("nginx is not installed (install it, or pass --no-gateway)")
        conf = run_dir / "gateway" / "nginx.conf"
        rendered = subprocess.run([sys.executable, str(root / "gateway" / "render.py"), "local",
                                   "--run-dir", str(run_dir / "gateway"), "--out", str(conf)],
                                  capture_output=True, text=True)
        if rendered.returncode != 0:
            raise ServeError(f"cannot render the gateway config: {rendered.stderr.strip()}")
        steps.append(("gateway", [nginx, "-p", str(run_dir / "gateway"), "-c", str(conf),
                                  "-g", "daemon off;"], dict(base)))
    return steps


def serve(root: Path, run_dir: Path, *, worker: bool = True, gateway: bool = True,
          ready_timeout: float = 60.0) -> int:
    """Start everything, wait until a child exits or a signal arrives; return the exit code."""
    steps = plan(root, run_dir, worker=worker, gateway=gateway)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    stopping = False

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for name, argv, env in steps:
            if env.get("PROMETHEUS_MULTIPROC_DIR"):
                Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
            children.append(Child(name, subprocess.Popen(argv, cwd=root, env=env, start_new_session=True)))
            if name in SERVICE_PORTS:
                _wait_live(children[-1], SERVICE_PORTS[name], ready_timeout, lambda: stopping)
            print(f"ades serve: {name} started (pid {children[-1].process.pid})", file=sys.stderr)
        if gateway:
            print("ades serve: the suite answers at http://127.0.0.1:8000/", file=sys.stderr)
        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    print(f"ades serve: {child.name} exited ({child.process.returncode}); "
                          "stopping the others", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        _stop_all(children)


def _wait_live(child: Child, port: int, timeout: float, interrupted) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not interrupted():
        if child.process.poll() is not None:
            raise ServeError(f"{child.name} exited with {child.process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    if not interrupted():
        raise ServeError(f"{child.name} did not answer /healthz on port {port} within {timeout:.0f} s")


def _stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            # nginx drains on SIGQUIT; gunicorn and the worker on SIGTERM.
            child.process.send_signal(signal.SIGQUIT if child.name == "gateway" else signal.SIGTERM)
    deadline = time.monotonic() + 40
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()

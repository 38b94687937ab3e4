"""Running a service under real gunicorn for tests, and talking HTTP to it.

`run_service` starts `gunicorn -c services/<name>/gunicorn.conf.py` as a subprocess on free
ports (service and metrics), with its own PROMETHEUS_MULTIPROC_DIR and data directory,
waits until `/healthz` answers, and stops it with SIGTERM (then SIGKILL) afterwards. The
server's output goes to a log file that failures quote.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pgserver import free_port

ROOT = Path(__file__).resolve().parents[2]



def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll `predicate` every 50 ms; return its first truthy value, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")

@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def http(method: str, url: str, *, headers: Mapping[str, str] | None = None,
         body: bytes | None = None, timeout: float = 10) -> HttpResponse:
    """One HTTP request; non-2xx statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, dict(exc.headers), exc.read())


@dataclass
class RunningService:
    url: str
    metrics_url: str
    process: subprocess.Popen
    log_path: Path
    multiproc_dir: Path

    def get(self, path: str, **kwargs) -> HttpResponse:
        return http("GET", self.url + path, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def service_env(tmp_path: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a test service: no inherited GAIT_* settings, a fresh data dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GAIT_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["GAIT_DATA_DIR"] = str(tmp_path / "data")
    env["GAIT_SECRET_KEY"] = "test-secret-key-shared-by-all-services"
    env.update(extra or {})
    return env


@contextlib.contextmanager
def run_service(name: str, tmp_path: Path, *, workers: int = 2,
                env: Mapping[str, str] | None = None, app: str | None = None,
                pythonpath: str | None = None, ready_timeout: float = 40) -> Iterator[RunningService]:
    """Run service `name` under gunicorn (`app` overrides its wsgi module) until the block ends."""
    port, metrics_port = free_port(), free_port()
    multiproc = tmp_path / f"prometheus-{name}-{port}"
    multiproc.mkdir(parents=True)
    full_env = service_env(tmp_path, {"GAIT_PORT": str(port), "GAIT_METRICS_PORT": str(metrics_port),
                                      "GAIT_WORKERS": str(workers),
                                      "PROMETHEUS_MULTIPROC_DIR": str(multiproc), **(env or {})})
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath,
                                                               full_env.get("PYTHONPATH")]))
    log_path = tmp_path / f"gunicorn-{name}-{port}.log"
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "services" / name / "gunicorn.conf.py")]
    if app:
        command.append(app)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=full_env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    service = RunningService(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}",
                             process, log_path, multiproc)
    try:
        _wait_until_live(service, ready_timeout)
        yield service
    finally:
        stop(process)


def _wait_until_live(service: RunningService, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {service.process.returncode}:\n{service.log()}")
        with contextlib.suppress(OSError):
            if service.get("/healthz", timeout=2).status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"service did not answer /healthz within {timeout} s:\n{service.log()}")


def stop(process: subprocess.Popen, timeout: float = 30) -> int:
    """SIGTERM the server (gunicorn drains gracefully), SIGKILL its group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of metric `name` in a Prometheus text exposition, with their labels."""
    from prometheus_client.parser import text_string_to_metric_families

    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), sample.value))
    return found

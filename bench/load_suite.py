"""The suite that `make bench-load` loads: PostgreSQL + Redis, four gunicorn services, the
worker and the nginx gateway, started as in production on free ports.

The database (`ades_bench_load` by default) lives on the benchmark's PostgreSQL server and is
kept between runs, so the repository is ingested once and later runs only bring it up to date
(an idempotent re-ingest takes about a second). Redis is the shared server, on a database
number of its own. The services are the project's `services/<name>/gunicorn.conf.py` under
real gunicorn (started by the tests' `run_service`), the gateway is the project's template
rendered for a local run with its upstreams pointed at them, and `ades worker` runs beside.

Two settings differ from a default install, both because every request of the benchmark comes
from one client address: the services' per-client limit (GAIT_RATE_LIMIT) and the gateway's
per-client request rate are lifted. Everything else is the production configuration.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared" / "tests")]

from pgserver import free_port  # noqa: E402
from service_runner import RunningService, run_service, service_env, stop  # noqa: E402

SERVICES = ("ui", "ide", "collab", "viz")
ADMIN = "bench-load"
TOKEN_NAME = "load benchmark"
WS_USER_PREFIX = "bench-load-ws"
# One client address sends everything: lift the per-client limits (see the module docstring).
SERVICE_RATE_LIMIT = "100000000/minute"
GATEWAY_RATE = "1000000r/s"
GATEWAY_BURST = "1000000"


class SuiteError(Exception):
    """The suite could not be prepared or started; the message is one line."""


@dataclass
class Suite:
    """Handles on the running suite."""

    gateway_url: str
    gateway_port: int
    services: dict[str, RunningService]
    worker: subprocess.Popen
    nginx: subprocess.Popen
    database_url: str
    redis_url: str
    repo_name: str
    token: str
    ws_logins: list[tuple[str, str]] = field(default_factory=list)
    run_dir: Path = Path()

    def processes(self) -> dict[str, int]:
        """Label -> pid of every gunicorn master and the ingest worker."""
        found = {f"{name} master": svc.process.pid for name, svc in self.services.items()}
        found["ingest worker"] = self.worker.pid
        return found


def database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name`; the database is created if missing."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _ades(env: dict[str, str], *args: str, stdin: str | None = None, check: bool = True
          ) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "ades", *args], env=env, input=stdin,
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SuiteError(f"ades {' '.join(args[:3])} failed: {result.stderr.strip()[-300:]}")
    return result


def ingest(env: dict[str, str], repo_path: Path, name: str) -> dict:
    """Ingest (or bring up to date) the repository; returns `ades ingest --json`'s result."""
    print(f"bench-load: ingesting {repo_path} as {name!r} (skipped when up to date) ...",
          file=sys.stderr, flush=True)
    result = _ades(env, "ingest", str(repo_path), "--name", name, "--json", "--no-progress")
    return json.loads(result.stdout)


def _analyze(db_url: str) -> None:
    """Fresh planner statistics after a bulk ingest (autovacuum would take its time)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def _ensure_user(env: dict[str, str], name: str, role: str) -> str:
    """A fresh password for `name`, creating the account with `role` if it is missing."""
    password = secrets.token_urlsafe(18)
    listed = json.loads(_ades(env, "users", "list", "--json").stdout)["users"]
    if any(u["username"] == name for u in listed):
        _ades(env, "users", "set-password", name, stdin=password + "\n")
    else:
        _ades(env, "users", "create", name, "--role", role, stdin=password + "\n")
    return password


def _forget_shared_cache(redis_url: str) -> None:
    """Every run starts with an empty shared query cache: results an earlier run left in
    Redis (they live for GAIT_CACHE_TTL) would otherwise answer this run's first requests."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match="ades:qc:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
    finally:
        client.close()


def _revoke_benchmark_tokens(env: dict[str, str]) -> None:
    listed = json.loads(_ades(env, "tokens", "list", "--user", ADMIN, "--json").stdout)
    for token in listed.get("tokens", []):
        if token["name"] == TOKEN_NAME and not token["revoked"]:
            _ades(env, "tokens", "revoke", str(token["id"]))


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise SuiteError(f"{url} did not answer within {timeout:.0f} s")


def _start_nginx(run_dir: Path, services: dict[str, RunningService]) -> tuple[subprocess.Popen, int]:
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    port, metrics_port = free_port(), free_port()
    gw_dir = run_dir / "gateway"
    sets = [f"LISTEN=127.0.0.1:{port}", f"METRICS_LISTEN=127.0.0.1:{metrics_port}",
            f"RATE_LIMIT={GATEWAY_RATE}", f"RATE_BURST={GATEWAY_BURST}"]
    sets += [f"{n.upper()}_UPSTREAM=127.0.0.1:{s.url.rsplit(':', 1)[1]}" for n, s in services.items()]
    subprocess.run([sys.executable, str(ROOT / "gateway" / "render.py"), "local",
                    "--run-dir", str(gw_dir), "--out", str(gw_dir / "nginx.conf"),
                    *[a for s in sets for a in ("--set", s)]], check=True)
    nginx = subprocess.Popen([nginx_bin, "-p", str(gw_dir), "-c", str(gw_dir / "nginx.conf"),
                              "-e", str(gw_dir / "error.log"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                             start_new_session=True)
    _wait_http(f"http://127.0.0.1:{metrics_port}/healthz", 30)
    return nginx, port


def _stop_nginx(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def running_suite(*, repo_path: Path, repo_name: str, postgres_server: str, database: str,
                  redis_url: str, run_dir: Path, workers: int | None, ws_users: int,
                  settings: dict[str, str] | None = None,
                  ready_timeout: float = 120) -> Iterator[Suite]:
    """Prepare the database (ingest, accounts, token), start everything, yield, stop it all.

    `settings` are GAIT_* variables for every process of the suite (to try a configuration).
    """
    db_url = database_url(postgres_server, database)
    env = {"GAIT_POSTGRES_URL": db_url, "GAIT_REDIS_URL": redis_url,
           "GAIT_REPO_ROOTS": str(repo_path.parent), "GAIT_RATE_LIMIT": SERVICE_RATE_LIMIT,
           "GAIT_SECRET_KEY": secrets.token_hex(32), **(settings or {})}
    if workers:
        env["GAIT_WORKERS"] = str(workers)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cli_env = service_env(run_dir, env)
    _forget_shared_cache(redis_url)
    _ades(cli_env, "db", "upgrade")
    if ingest(cli_env, repo_path, repo_name)["new_commits"]:
        _analyze(db_url)
    _ensure_user(cli_env, ADMIN, "admin")
    _revoke_benchmark_tokens(cli_env)
    token = _ades(cli_env, "tokens", "create", "--user", ADMIN, "--scope", "read",
                  "--name", TOKEN_NAME).stdout.strip()
    ws_logins = [(f"{WS_USER_PREFIX}-{i}", "") for i in range(ws_users)]
    ws_logins = [(name, _ensure_user(cli_env, name, "viewer")) for name, _ in ws_logins]

    with contextlib.ExitStack() as stack:
        stack.callback(_revoke_benchmark_tokens, cli_env)
        services = {}
        for name in SERVICES:
            print(f"bench-load: starting {name} under gunicorn ...", file=sys.stderr, flush=True)
            services[name] = stack.enter_context(
                run_service(name, run_dir, workers=int(env.get("GAIT_WORKERS", "2")), env=env,
                            ready_timeout=ready_timeout))
        worker_log = open(run_dir / "worker.log", "wb")  # noqa: SIM115 -- closed by the stack
        stack.callback(worker_log.close)
        worker = subprocess.Popen(
            [sys.executable, "-m", "ades", "worker"],
            env={**cli_env, "PROMETHEUS_MULTIPROC_DIR": str(services["ui"].multiproc_dir)},
            cwd=run_dir, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(stop, worker)
        nginx, port = _start_nginx(run_dir, services)
        stack.callback(_stop_nginx, nginx)
        _wait_http(f"http://127.0.0.1:{port}/healthz", 30)
        yield Suite(gateway_url=f"http://127.0.0.1:{port}", gateway_port=port, services=services,
                    worker=worker, nginx=nginx, database_url=db_url, redis_url=redis_url,
                    repo_name=repo_name, token=token, ws_logins=ws_logins, run_dir=run_dir)

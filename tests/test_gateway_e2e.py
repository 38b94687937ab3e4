"""End to end through the real gateway: gunicorn services, nginx, the worker and Prometheus.

One fixture world: PostgreSQL (a fresh database), the four services under gunicorn on free
ports, `ades worker` with its own metrics listener, nginx running the project's gateway
template (rendered for a local run, its upstreams pointed at those ports) and Prometheus
running the project's scrape config and alert rules (targets rewritten to the same ports,
1 s intervals — for the test only). The client talks to the gateway from 127.0.0.2, so the
address the services log can only be right if the gateway forwarded it and the services
trusted exactly that hop.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from gitrepos import make_linear_repo
from pgserver import free_port
from service_runner import run_service, service_env, stop

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ui", "ide", "collab", "viz")
CLIENT_IP = "127.0.0.2"
PASSWORD = "e2e-admin-password-long-enough"

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Dashboard queries whose metric no code publishes yet, each with the reason. The test
# requires these to be exactly the queries without data: wiring one up fails the test
# until it is removed from here, so the list cannot go stale.
UNPUBLISHED: dict[str, str] = {}


class Gateway:
    """HTTP through the gateway from CLIENT_IP, keeping the session cookie like a browser."""

    def __init__(self, port: int, client_ip: str = CLIENT_IP) -> None:
        self.port = port
        self.client_ip = client_ip
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20,
                                          source_address=(self.client_ip, 0))
        all_headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.csrf and method not in ("GET", "HEAD"):
            all_headers["X-CSRF-Token"] = self.csrf
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name] = rest.split(";", 1)[0]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def json(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        status, _, data = self.request(method, path, body)
        return status, json.loads(data) if data else {}


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _ades(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "ades", *args], env=env, input=stdin,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _log_entries(log_text: str) -> list[dict]:
    entries = []
    for line in log_text.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def _requests_logged(log_text: str) -> list[tuple[str, str, int]]:
    """(path, client_ip, status) of every request a service logged."""
    return [(e["fields"]["path"], e.get("client_ip"), e["fields"]["status"])
            for e in _log_entries(log_text) if e.get("message") == "request" and "fields" in e]


@pytest.fixture(scope="module")
def suite(tmp_path_factory, request):
    """Everything running; yields a dict of handles. Stops all of it afterwards."""
    if not shutil.which("nginx") or not shutil.which("prometheus"):
        pytest.fail("nginx and prometheus must be installed (.ci/run installs them)")
    tmp = tmp_path_factory.mktemp("e2e")
    postgres_url = request.getfixturevalue("postgres_server_url")
    db_name = f"ades_e2e_{os.getpid()}"
    admin = _pg_admin(postgres_url)
    admin(f'DROP DATABASE IF EXISTS "{db_name}"')
    admin(f'CREATE DATABASE "{db_name}"')
    parts = urllib.parse.urlsplit(postgres_url)
    db_url = urllib.parse.urlunsplit(parts._replace(path=f"/{db_name}"))
    repos = tmp / "repos"
    make_linear_repo(repos / "payments", commits=40, files=12)
    env = {"GAIT_POSTGRES_URL": db_url, "GAIT_REPO_ROOTS": str(repos), "GAIT_WORKERS": "1",
           "GAIT_RATE_LIMIT": "1000/minute"}
    cli_env = service_env(tmp, env)
    _ades(cli_env, "db", "upgrade")
    _ades(cli_env, "users", "create", "alice", "--role", "admin", stdin=PASSWORD + "\n")

    processes: list[subprocess.Popen] = []
    with contextlib.ExitStack() as stack:
        services = {name: stack.enter_context(run_service(name, tmp, workers=1, env=env))
                    for name in SERVICES}
        # As in the containers: the worker serves its ingest metrics on a listener of its own.
        worker_log = open(tmp / "worker.log", "wb")  # noqa: SIM115 -- closed at teardown
        stack.callback(worker_log.close)
        worker_metrics = free_port()
        worker_env = {**cli_env, "GAIT_METRICS_PORT": str(worker_metrics)}
        worker = subprocess.Popen([sys.executable, "-m", "ades", "worker", "--poll-seconds", "0.2"],
                                  env=worker_env, cwd=tmp, stdout=worker_log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        processes.append(worker)
        stack.callback(stop, worker)

        gw_port, gw_metrics = free_port(), free_port()
        gw_dir = tmp / "gateway"
        sets = [f"LISTEN=127.0.0.1:{gw_port}", f"METRICS_LISTEN=127.0.0.1:{gw_metrics}"]
        sets += [f"{n.upper()}_UPSTREAM=127.0.0.1:{s.url.rsplit(':', 1)[1]}" for n, s in services.items()]
        subprocess.run([sys.executable, str(ROOT / "gateway" / "render.py"), "local",
                        "--run-dir", str(gw_dir), "--out", str(gw_dir / "nginx.conf"),
                        *[a for s in sets for a in ("--set", s)]], check=True)
        nginx = subprocess.Popen([shutil.which("nginx"), "-p", str(gw_dir), "-c", str(gw_dir / "nginx.conf"),
                                  "-e", str(gw_dir / "error.log"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(_stop_nginx, nginx)
        _wait_http(f"http://127.0.0.1:{gw_metrics}/healthz")

        prom_port = free_port()
        prom_config = _prometheus_config(tmp, services, gw_metrics, worker_metrics, prom_port)
        prom_log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 -- closed at teardown
        stack.callback(prom_log.close)
        prometheus = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={prom_config}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=prom_log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(stop, prometheus)
        _wait_http(f"http://127.0.0.1:{prom_port}/-/ready")

        yield {"services": services, "gateway": Gateway(gw_port), "gateway_dir": gw_dir,
               "gateway_metrics": gw_metrics, "prometheus": f"http://127.0.0.1:{prom_port}",
               "worker": worker, "tmp": tmp, "repos": repos}
    admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def _pg_admin(url: str):
    import psycopg

    def run(sql: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)
    return run


def _stop_nginx(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _prometheus_config(tmp: Path, services, gateway_metrics_port: int, worker_metrics_port: int,
                       prom_port: int) -> Path:
    """The project's prometheus.yml with its targets pointed at this test's ports."""
    source = ROOT / "deployments" / "prometheus"
    config = yaml.safe_load((source / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(source / name) for name in config["rule_files"]]
    config.pop("alerting")  # no Alertmanager in this test
    ports = {f"ades-{name}": svc.metrics_url.rsplit(":", 1)[1] for name, svc in services.items()}
    ports["ades-gateway"] = str(gateway_metrics_port)
    ports["ades-worker"] = str(worker_metrics_port)
    ports["prometheus"] = str(prom_port)
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [f"127.0.0.1:{ports[job['job_name']]}"]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _prom_query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        payload = json.loads(response.read())
    assert payload["status"] == "success", payload
    return payload["data"]["result"]


def _dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in sorted((ROOT / "deployments" / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                queries.append((f"{path.stem}: {panel['title']} [{target['refId']}]", target["expr"]))
    return queries


def _alert_measures() -> list[tuple[str, str]]:
    """Each alert rule's measure: its expression without the final `<op> <threshold>`."""
    rules = yaml.safe_load((ROOT / "deployments" / "prometheus" / "alerts.yml").read_text())
    measures = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            match = re.fullmatch(r"(.*\S)\s*(?:>|<|==|!=|>=|<=)\s*[0-9.]+\s*", rule["expr"], flags=re.S)
            assert match, f"{rule['alert']}: expression does not end in '<op> <threshold>'"
            measures.append((f"alert {rule['alert']}", match.group(1)))
    return measures


# --------------------------------------------------------------------------- the tests


def test_a_user_logs_in_through_the_gateway_and_uses_every_service(suite):
    gw = suite["gateway"]
    status, body = gw.json("POST", "/api/auth/login", {"username": "alice", "password": PASSWORD})
    assert status == 200, body
    gw.csrf = body["csrf_token"]

    status, body = gw.json("POST", "/api/repositories", {"name": "payments",
                                                         "path": str(suite["repos"] / "payments")})
    assert status == 202, body
    job_id = body["job"]["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, job = gw.json("GET", f"/api/jobs/{job_id}")
        if job.get("status") in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert job["status"] == "succeeded", (job, (suite["tmp"] / "worker.log").read_text()[-3000:])

    status, body = gw.json("GET", "/api/repositories/payments/stats")
    assert status == 200 and body["commits"] == 40

    # The same session cookie works on every service behind the gateway.
    for path in ("/ide/", "/collab/", "/viz/"):
        status, headers, _ = gw.request("GET", path)
        assert status == 200, path
    status, body = gw.json("POST", "/ide/context", {"repo": "payments", "path": "src/module_1.py"})
    assert status in (200, 404) and isinstance(body, dict)

    for name, path in (("ui", "/api/repositories/payments/stats"), ("ide", "/ide/"),
                       ("collab", "/collab/"), ("viz", "/viz/")):
        logged = _requests_logged(suite["services"][name].log())
        assert (path, CLIENT_IP, 200) in logged, f"{name} did not log {path} from {CLIENT_IP}"


def test_mcp_requests_reach_the_ide_service(suite):
    gw = suite["gateway"]
    status, headers, body = gw.request(
        "POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "e2e", "version": "1"}}},
        headers={"Accept": "application/json, text/event-stream"})
    ide_logged = _requests_logged(suite["services"]["ide"].log())
    assert any(path == "/mcp" and ip == CLIENT_IP for path, ip, _ in ide_logged)
    assert not any(path == "/mcp" for path, _, _ in _requests_logged(suite["services"]["ui"].log()))


def test_a_websocket_opens_through_the_gateway(suite):
    import websocket

    gw = suite["gateway"]
    cookie = "; ".join(f"{k}={v}" for k, v in gw.cookies.items())
    assert cookie, "log in first (the tests of this module share one session)"
    ws = websocket.create_connection(f"ws://127.0.0.1:{gw.port}/ws/repos/payments", timeout=10,
                                     header=[f"Cookie: {cookie}"], origin=f"http://127.0.0.1:{gw.port}")
    try:
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "presence" not in seen:
            message = json.loads(ws.recv())
            assert "type" in message and "v" in message
            seen.append(message["type"])
        assert "presence" in seen, seen
        ws.send(json.dumps({"type": "ping"}))
        while (message := json.loads(ws.recv()))["type"] != "pong":
            pass
    finally:
        ws.close()


def test_metrics_are_never_reachable_through_the_gateway(suite):
    gw = suite["gateway"]
    for path in ("/metrics", "/metrics/", "/METRICS", "/%6Detrics", "//metrics", "/ide/../metrics",
                 "/metrics?format=prometheus"):
        status, headers, body = gw.request("GET", path)
        assert status == 404, path
        assert json.loads(body) == {"error": "not found"}, path
        assert headers["content-type"].startswith("application/json")
    for name, service in suite["services"].items():
        logged = _requests_logged(service.log())
        assert not any(p == "/metrics" and ip == CLIENT_IP for p, ip, _ in logged), name


def test_the_services_log_the_real_client_address_not_a_spoofed_one(suite):
    gw = suite["gateway"]
    status, _, _ = gw.request("GET", "/api/health", headers={"X-Forwarded-For": "6.6.6.6",
                                                              "X-Real-IP": "6.6.6.6"})
    assert status == 200
    logged = _requests_logged(suite["services"]["ui"].log())
    assert ("/api/health", CLIENT_IP, 200) in logged
    assert not any(ip == "6.6.6.6" for _, ip, _ in logged)
    # nginx writes the access line when it finalizes the request, which can be just after
    # the client has read the whole response: wait for the line rather than race it.
    deadline = time.monotonic() + 10
    while True:
        access = [json.loads(line)
                  for line in (suite["gateway_dir"] / "access.log").read_text().splitlines()]
        if any(e["uri"] == "/api/health" and e["remote_addr"] == CLIENT_IP and e["status"] == 200
               for e in access) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(e["uri"] == "/api/health" and e["remote_addr"] == CLIENT_IP and e["status"] == 200
               for e in access)


def test_the_gateway_compresses_limits_and_answers_its_own_errors_in_json(suite):
    gw = suite["gateway"]
    status, headers, body = gw.request("GET", "/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert "openapi" in json.loads(gzip.decompress(body))

    status, headers, body = gw.request("POST", "/api/auth/login", b"x" * 64 * 1024,
                                       headers={"Content-Type": "application/json"})
    assert status == 413 and json.loads(body) == {"error": "request body too large"}
    assert headers["x-content-type-options"] == "nosniff"

    # A proxied response keeps the service's own security headers, once.
    status, headers, _ = gw.request("GET", "/api/health")
    assert headers.get("x-content-type-options") == "nosniff"
    assert "server" not in headers or "nginx/" not in headers["server"]


def test_every_dashboard_query_and_alert_rule_returns_data_from_the_live_prometheus(suite):
    base = suite["prometheus"]
    gw = suite["gateway"]
    queries = _dashboard_queries() + _alert_measures()
    assert len(queries) >= 20
    deadline = time.monotonic() + 60
    missing = queries
    while time.monotonic() < deadline:
        # Keep traffic flowing so every rate() has fresh samples in its window.
        for path in ("/api/health", "/ide/", "/viz/", "/collab/"):
            gw.request("GET", path)
        missing = [(name, expr) for name, expr in queries if not _prom_query(base, expr)]
        if {expr for _, expr in missing} <= set(UNPUBLISHED):
            break
        time.sleep(1)
    assert {expr for _, expr in missing} == set(UNPUBLISHED), \
        "queries without data:\n" + "\n".join(f"{n}: {e}" for n, e in missing)
    up = _prom_query(base, 'up{job=~"ades-.*"}')
    assert {r["metric"]["job"] for r in up if r["value"][1] == "1"} == {
        "ades-ui", "ades-ide", "ades-collab", "ades-viz", "ades-worker", "ades-gateway"}


def test_the_ingest_metrics_come_from_the_workers_own_target(suite):
    base = suite["prometheus"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        analyzed = _prom_query(base, "ades_commits_analyzed_total > 0")
        durations = _prom_query(base, 'ades_ingest_duration_seconds_count{outcome="succeeded"}')
        if analyzed and durations:
            break
        time.sleep(1)
    # The 40 commits of the one ingest, reported by the worker and by no service.
    assert [(r["metric"]["job"], r["metric"]["service"], r["value"][1]) for r in analyzed] == [
        ("ades-worker", "worker", "40")]
    assert [(r["metric"]["job"], r["value"][1]) for r in durations] == [("ades-worker", "1")]
    assert _prom_query(base, 'ades_patterns_extracted_total{job="ades-worker"}')


def test_the_active_sessions_panel_counts_the_one_logged_in_user(suite):
    # The tests before this one logged alice in once through the gateway and never out.
    base = suite["prometheus"]
    assert suite["gateway"].cookies, "log in first (the tests of this module share one session)"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = _prom_query(base, "max(ades_active_user_sessions)")
        if result and result[0]["value"][1] == "1":
            break
        time.sleep(1)
    assert result and result[0]["value"][1] == "1", result
    by_service = _prom_query(base, "max by (service) (ades_active_user_sessions)")
    assert {r["metric"]["service"]: r["value"][1] for r in by_service} == dict.fromkeys(SERVICES, "1")


def test_a_client_flooding_the_gateway_is_slowed_with_json_429s(suite):
    # Its own address, so the other tests' client keeps its allowance.
    flood = Gateway(suite["gateway"].port, client_ip="127.0.0.3")
    responses = [flood.request("GET", "/api/health") for _ in range(120)]
    statuses = [status for status, _, _ in responses]
    assert statuses.count(200) >= 40 and 429 in statuses
    _, headers, body = next(r for r in responses if r[0] == 429)
    assert json.loads(body) == {"error": "too many requests, slow down"}
    assert headers["retry-after"] == "1"
    status, _, _ = suite["gateway"].request("GET", "/api/health")
    assert status == 200


def test_a_stopped_service_turns_into_a_json_503_at_the_gateway(suite):
    gw = suite["gateway"]
    viz = suite["services"]["viz"]
    stop(viz.process)
    status, headers, body = gw.request("GET", "/viz/")
    assert status == 503
    assert json.loads(body) == {"error": "service unavailable, try again shortly"}
    assert headers["retry-after"] == "5"

"""Process and disk faults: SIGTERM to gunicorn under load, SIGKILL to a worker mid-ingest, and a
full disk under the SQLite data directory (issue 9).

Everything is real and on loopback: gunicorn instances of the services, nginx running the
project's gateway template with two instances per upstream, `ades worker` processes on
PostgreSQL, the `ades` CLI, and a tmpfs mounted for the test as the data directory. Each
test writes what it observed into `reports/faults-processes.md` (requests sent and failed,
close codes, time to re-claim, the disk-full message), which the README summary quotes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faultkit import Outcome, TrafficRecorder, request
from gateway_process import run_gateway
from gitrepos import make_linear_repo
from history_snapshot import snapshot_history
from pgserver import free_port
from service_runner import http, run_service, service_env
from service_runner import wait_until as _wait

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
REPORT = ROOT / "reports" / "faults-processes.md"
HELD_APP = "held_requests_app:create_app()"
PASSWORD = "faults-admin-password-long-enough"
# The gateway's per-client limit (20 r/s) would turn this test's load into 429s; the
# limiter has its own tests, this one is about instances going away.
NO_GATEWAY_LIMIT = {"RATE_LIMIT": "10000r/s", "RATE_BURST": "10000"}
SERVICE_ENV = {"GAIT_RATE_LIMIT": "100000/minute"}

pytestmark = pytest.mark.slow

_results: dict[str, list[str]] = {}


@pytest.fixture(scope="module", autouse=True)
def fault_report():
    """Collects each test's observations and writes the report when the module ends."""
    yield _results
    if not _results:
        return
    REPORT.parent.mkdir(exist_ok=True)
    lines = ["# Process and disk faults", "",
             f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.uname().nodename} "
             f"({os.cpu_count()} cores) by `pytest tests/test_faults_processes.py`; a test that did "
             "not run in that invocation has no section.", ""]
    for title, observed in _results.items():
        lines += [f"## {title}", "", *[f"- {line}" for line in observed], ""]
    REPORT.write_text("\n".join(lines))


def _ades(env: dict[str, str], *args: str, stdin: str | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ades", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def _checked(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _admin_token(env: dict[str, str]) -> str:
    """An admin account and a write-scope API token in the database of `env`."""
    _checked(_ades(env, "users", "create", "alice", "--role", "admin", stdin=PASSWORD + "\n"))
    return _checked(_ades(env, "tokens", "create", "--user", "alice", "--scope", "write")).strip()


def _address(service) -> str:
    return service.url.removeprefix("http://")


def _port(service) -> int:
    return int(service.url.rsplit(":", 1)[1])


# --------------------------------------------------------------------- SIGTERM under load


def test_sigterm_to_one_of_two_ui_instances_under_load_fails_no_request_at_the_gateway(tmp_path):
    env = service_env(tmp_path)
    token = _admin_token(env)
    repo = make_linear_repo(tmp_path / "repos" / "payments", commits=300, seed=11)
    _checked(_ades(env, "ingest", str(repo), "--name", "payments", "--no-progress"))
    auth = {"Authorization": f"Bearer {token}"}
    paths = {"health": "/api/health", "search": "/api/search?q=fix&repo=payments",
             "repositories": "/api/repositories", "commits": "/api/repositories/payments/commits?limit=20",
             "stats": "/api/repositories/payments/stats", "slow": "/probe/hold?seconds=1.5"}
    held = tmp_path / "data" / "held"
    ui = {"workers": 1, "env": SERVICE_ENV, "app": HELD_APP, "pythonpath": str(TESTS)}
    with run_service("ui", tmp_path, **ui) as doomed, run_service("ui", tmp_path, **ui) as survivor, \
            run_gateway(tmp_path, {"ui": [_address(doomed), _address(survivor)]},
                        overrides=NO_GATEWAY_LIMIT) as gateway:
        senders = {f"{name}-{client}": (lambda p=path: request(gateway.port, "GET", p, headers=auth))
                   for client in range(2) for name, path in paths.items()}
        holders: list[threading.Thread] = []
        held_outcomes: dict[int, Outcome] = {}

        def hold(rid: int) -> None:
            held_outcomes[rid] = request(gateway.port, "GET", f"/probe/hold?seconds=4&rid={rid}",
                                         headers=auth)

        with TrafficRecorder(senders) as traffic:
            _wait(lambda: len(traffic.between(0, time.monotonic())) >= 40, 60, "40 requests")
            # Requests held by the instance about to be stopped: keep starting held requests
            # until the doomed instance holds one (round-robin alternates, so it soon does).
            doomed_markers: set[int] = set()
            for rid in range(1, 41):
                holders.append(threading.Thread(target=hold, args=(rid,), daemon=True))
                holders[-1].start()
                with contextlib.suppress(AssertionError):
                    doomed_markers = _wait(lambda: {int(p.name.split("-")[1]) for p in held.glob(
                        f"{_port(doomed)}-*")} - {0}, 0.5, "a held request on the doomed instance")
                if doomed_markers:
                    break
            assert doomed_markers, "no held request reached the doomed instance"
            sigterm_at = time.monotonic()
            doomed.process.send_signal(signal.SIGTERM)
            exit_code = doomed.process.wait(60)
            exited_at = time.monotonic()
            # Keep the load on the survivor alone for a while: refused connections must
            # move on to it, not surface as errors.
            _wait(lambda: len(traffic.between(exited_at, time.monotonic())) >= 60, 60,
                  "60 requests after the instance exited")
        for thread in holders:
            thread.join(30)
        access = gateway.access_log()
    outcomes = traffic.between(0, time.monotonic()) + list(held_outcomes.values())
    failed = [o for o in outcomes if o.status is None or not 200 <= o.status < 300]
    assert not failed, [(o.name, o.status, o.error, o.body[:200]) for o in failed[:10]]
    # The requests the stopped instance held when it got SIGTERM were answered by it.
    for rid in doomed_markers:
        answer = held_outcomes[rid]
        assert answer.status == 200 and answer.json()["port"] == _port(doomed), (rid, answer)
    assert exit_code == 0, doomed.log()[-3000:]
    assert "graceful timeout" not in doomed.log().lower()
    during = traffic.between(sigterm_at, exited_at)
    after = traffic.between(exited_at, time.monotonic())
    assert during and after
    gateway_statuses = Counter(entry["status"] for entry in access)
    assert set(gateway_statuses) <= {200, 202}, gateway_statuses
    retried = [e for e in access if "," in e["upstream"]]
    answered_by = Counter(e["upstream"].split(", ")[-1] for e in access)
    slow = [o for o in outcomes if "/probe/hold" in o.name]
    _results["SIGTERM to one of two ui instances under load (gunicorn + nginx)"] = [
        f"{len(outcomes)} requests through the gateway ({len(senders)} client threads, "
        f"{len(slow)} slow ones held 1.5-4 s), {len(failed)} failed (non-2xx or transport error)",
        f"{len(during)} requests sent while the instance drained ({exited_at - sigterm_at:.1f} s from "
        f"SIGTERM to exit, exit code {exit_code}), {len(after)} after it exited",
        f"{len(doomed_markers)} request(s) in flight on the stopped instance at SIGTERM: "
        "all answered 200 by it",
        f"gateway statuses: {dict(sorted(gateway_statuses.items()))}; {len(retried)} request(s) moved "
        "to the other instance by nginx (`proxy_next_upstream error timeout`)",
        f"answered by the stopped instance: {answered_by[_address(doomed)]}, by the other: "
        f"{answered_by[_address(survivor)]}",
    ]


def _collab_connections(service) -> int:
    detail = service.get("/api/health/detailed", timeout=10).json()
    return detail["collaboration"].get("connections", 0)


def test_sigterm_to_a_collab_instance_tells_its_websockets_to_reconnect_and_they_do(tmp_path):
    from services.collab.tests.wsclient import WsClient

    env = service_env(tmp_path)
    token = _admin_token(env)
    repo = make_linear_repo(tmp_path / "repos" / "payments", commits=20, seed=12)
    _checked(_ades(env, "ingest", str(repo), "--name", "payments", "--no-progress"))
    auth = {"Authorization": f"Bearer {token}"}
    clients: list[WsClient] = []
    with run_service("collab", tmp_path, workers=1, env=SERVICE_ENV) as doomed, \
            run_service("collab", tmp_path, workers=1, env=SERVICE_ENV) as survivor, \
            run_gateway(tmp_path, {"collab": [_address(doomed), _address(survivor)]},
                        overrides=NO_GATEWAY_LIMIT) as gateway:
        ws_url = f"ws://127.0.0.1:{gateway.port}/ws/repos/payments"
        try:
            # Open sockets through the gateway until both instances hold some.
            while len(clients) < 24 and (len(clients) < 6 or not _collab_connections(doomed)
                                         or not _collab_connections(survivor)):
                clients.append(WsClient(ws_url, token=token))
                clients[-1].wait_for(lambda m: m["type"] == "welcome")
            on_doomed, on_survivor = _collab_connections(doomed), _collab_connections(survivor)
            assert on_doomed and on_survivor and on_doomed + on_survivor == len(clients)
            senders = {f"{name}-{client}": (lambda p=path: request(gateway.port, "GET", p, headers=auth))
                       for client in range(2) for name, path in (
                           ("annotations", "/collab/repos/payments/annotations"),
                           ("presence", "/collab/repos/payments/presence"),
                           ("changes", "/collab/repos/payments/changes?cursor=0"))}
            with TrafficRecorder(senders) as traffic:
                _wait(lambda: len(traffic.between(0, time.monotonic())) >= 30, 60, "30 requests")
                sigterm_at = time.monotonic()
                doomed.process.send_signal(signal.SIGTERM)
                told = _wait(lambda: [c for c in clients if c.closed.is_set()] if sum(
                    c.closed.is_set() for c in clients) >= on_doomed else None, 30,
                    f"{on_doomed} sockets closed by the stopped instance")
                closed_at = time.monotonic()
                exit_code = doomed.process.wait(60)
                exited_at = time.monotonic()
                # Reconnect through the gateway, as the notice asks: the survivor takes them.
                reconnected = []
                for _ in told:
                    reconnected.append(WsClient(ws_url, token=token))
                    reconnected[-1].wait_for(lambda m: m["type"] == "welcome")
                clients.extend(reconnected)
                reconnected_at = time.monotonic()
                _wait(lambda: len(traffic.between(exited_at, time.monotonic())) >= 30, 60,
                      "30 requests after the exit")
            codes = Counter(c.close_code for c in told)
            assert len(told) == on_doomed and codes == {1012: on_doomed}, codes
            for client in told:
                notice = client.wait_for(lambda m: m["type"] == "reconnect")
                assert notice["v"] == 1 and notice["retry_after_ms"] > 0
            assert _collab_connections(survivor) == len(clients) - len(told)
            for client in (c for c in clients if c not in told):
                client.send({"type": "ping"})
                client.wait_for(lambda m: m["type"] == "pong")
            assert exit_code == 0, doomed.log()[-3000:]
            # It drained because its sockets closed, not because graceful_timeout ran out.
            assert "graceful timeout" not in doomed.log().lower()
        finally:
            for client in clients:
                client.close()
    outcomes = traffic.between(0, time.monotonic())
    failed = [o for o in outcomes if o.status is None or not 200 <= o.status < 300]
    assert not failed, [(o.name, o.status, o.error, o.body[:200]) for o in failed[:10]]
    _results["SIGTERM to one of two collab instances with open websockets"] = [
        f"{len(told) + on_survivor} websockets through the gateway: {on_doomed} on the stopped instance, "
        f"{on_survivor} on the other",
        f"close codes seen by the stopped instance's clients: {dict(codes)} (each after a `reconnect` "
        f"notice), {closed_at - sigterm_at:.2f} s after SIGTERM; the instance exited {exit_code} "
        f"{exited_at - sigterm_at:.1f} s after SIGTERM",
        f"all {len(told)} reconnected through the gateway to the surviving instance in "
        f"{reconnected_at - exited_at:.2f} s; the {on_survivor} sockets there stayed up (ping/pong)",
        f"{len(outcomes)} collab HTTP requests through the gateway meanwhile, {len(failed)} failed",
    ]


# --------------------------------------------------------------------- SIGKILL mid-ingest

KILL_COMMITS = 5000  # above ades.mining.ingest.PARALLEL_THRESHOLD: the shard processes die too
LEASE_SECONDS = 3


def _clean_ingest(tmp_path: Path, repo: Path, name: str) -> dict:
    """The snapshot of an uninterrupted ingest of `repo` into a fresh SQLite database."""
    from ades.mining.ingest import ingest_repository
    from ades.storage import open_store

    with open_store(f"sqlite:///{tmp_path / 'clean' / 'ades.db'}") as store:
        ingest_repository(store, str(repo), name=name, shards=1)
        return snapshot_history(store, name)


def _same_history(stored: dict, clean: dict) -> None:
    """`stored` (either backend) equals `clean` (SQLite) table by table."""
    for table, rows in clean.items():
        if table.startswith("search_index") and table not in stored:
            continue  # SQLite's FTS table; PostgreSQL indexes the experiences themselves
        assert len(stored[table]) == len(rows), f"{table}: {len(stored[table])} rows, clean {len(rows)}"
        assert stored[table] == rows, f"{table} differs from a clean ingest"


def _live_members(group: int) -> list[int]:
    """Processes of process group `group` that are still running (zombies excluded)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == group:
                members.append(int(stat.parent.name))
    return members


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


@pytest.mark.postgres
def test_a_worker_killed_mid_ingest_leaves_its_job_to_the_other_which_ends_it_like_a_clean_ingest(
        tmp_path, postgres_url):
    from ades import jobs
    from ades.storage import open_store
    from ades.storage.repositories import register_repository

    repo = make_linear_repo(tmp_path / "repos" / "big", commits=KILL_COMMITS, seed=13)
    clean = _clean_ingest(tmp_path, repo, "big")
    env = service_env(tmp_path, {"GAIT_POSTGRES_URL": postgres_url, "GAIT_INGEST_BATCH_SIZE": "25",
                                 "GAIT_INGEST_SHARDS": "2"})
    workers: dict[str, subprocess.Popen] = {}
    with open_store(postgres_url) as store:
        job = jobs.enqueue_ingest(store, register_repository(store, "big", str(repo)).id)
        try:
            for _ in range(2):
                process = subprocess.Popen(
                    [sys.executable, "-m", "ades", "worker", "--lease-seconds", str(LEASE_SECONDS),
                     "--poll-seconds", "0.2"], env={**env, "GAIT_METRICS_PORT": str(free_port())},
                    cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True)
                workers[f"{os.uname().nodename}:{process.pid}"] = process

            def stored() -> int:
                return store.query_one("SELECT COUNT(*) FROM commits")[0]

            holder = _wait(lambda: jobs.get_job(store, job.id).worker, 60, "a worker claims the job")
            _wait(lambda: stored() >= 500, 120, "500 commits stored")
            victim = workers[holder]
            victim.send_signal(signal.SIGKILL)  # the worker alone: its shard processes must follow
            killed_at = time.monotonic()
            victim.wait(30)
            at_kill = stored()
            assert 0 < at_kill < KILL_COMMITS, "the kill landed after the ingest ended"
            _wait(lambda: not _live_members(victim.pid), 30, "the killed worker's shard processes exit")
            reclaimed = _wait(lambda: (j := jobs.get_job(store, job.id)).worker not in (None, holder) and j,
                              60, "the job is claimed again")
            reclaimed_at = time.monotonic()
            ended = _wait(lambda: (j := jobs.get_job(store, job.id)).finished and j, 180, "the job ends")
        finally:
            for process in workers.values():
                _kill_group(process)
        assert ended.status == "succeeded", ended.error
        assert ended.attempts >= 2 and ended.worker == reclaimed.worker != holder
        assert ended.result["new_commits"] < KILL_COMMITS  # resumed, not started over
        assert ended.result["new_commits"] + at_kill >= KILL_COMMITS
        snapshot = snapshot_history(store, "big")
    _same_history(snapshot, clean)
    counts = {table: len(rows) for table, rows in snapshot.items()}
    _results["SIGKILL to the worker holding an ingest job (two workers, PostgreSQL)"] = [
        f"{KILL_COMMITS}-commit repository, batches of 25, 2 shard processes, lease {LEASE_SECONDS} s",
        f"killed with {at_kill} commits stored; its shard processes exited with it (PR_SET_PDEATHSIG)",
        f"re-claimed by the other worker {reclaimed_at - killed_at:.1f} s after the kill "
        f"(attempt {reclaimed.attempts}), which stored the remaining {ended.result['new_commits']} commits",
        f"stored data equals a clean ingest row for row: {counts['commits']} commits, "
        f"{counts['file_changes']} file changes, {counts['hunks']} hunks, "
        f"{counts['experiences']} experiences, {counts['patterns']} pattern occurrences",
    ]


# --------------------------------------------------------------------- disk full

DISK_KB = 3072  # room for the schema and a few hundred commits, not for this history
DISK_COMMITS = 3000
DISK_FULL = re.compile(r"disk is full|no space left", re.IGNORECASE)


@contextlib.contextmanager
def _tmpfs(directory: Path, size_kb: int):
    """A tmpfs of `size_kb` mounted on `directory` for the block; unmounted even on failure."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (this test runs as root here and in CI)")
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(directory)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a {size_kb} KiB tmpfs on {directory} although running as root: "
                    f"{mounted.stderr.strip()} (a container without CAP_SYS_ADMIN?)")
    try:
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def _fill(path: Path) -> None:
    """Write `path` until the file system has no space left."""
    with contextlib.suppress(OSError), open(path, "wb", buffering=0) as filler:
        while True:
            filler.write(b"\0" * 4096)


def _resize(directory: Path, size_kb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(directory)], check=True)


def _whole_commits_only(database: Path, clean: dict) -> int:
    """Check the database after a failed write; returns how many commits it holds.

    It must pass SQLite's integrity check and hold, for each commit it has, exactly the
    rows a clean ingest has for it (file changes, hunks, experience, patterns, search
    index) — and nothing of any other commit.
    """
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    from ades.storage import open_store

    with open_store(f"sqlite:///{database}", migrate=False) as store:
        stored = snapshot_history(store, "big")
    hashes = {row[0] for row in stored["commits"]}
    for table, rows in clean.items():
        expected = rows if table == "search_index_orphans" else [r for r in rows if r[0] in hashes]
        assert stored[table] == expected, f"{table}: partial commits after the disk filled up"
    return len(hashes)


def test_a_full_data_disk_fails_the_ingest_clearly_and_corrupts_nothing(tmp_path):
    repo = make_linear_repo(tmp_path / "repos" / "big", commits=DISK_COMMITS, seed=14)
    clean = _clean_ingest(tmp_path, repo, "big")
    data = tmp_path / "data"
    database = data / "ades.db"
    observed = []
    with _tmpfs(data, DISK_KB):
        env = service_env(tmp_path)
        token = _admin_token(env)

        # The CLI: one clear line naming the full disk, a failure exit code, no traceback.
        cli = _ades(env, "ingest", str(repo), "--name", "big", "--no-progress")
        assert cli.returncode == 1, cli.stderr
        assert len(cli.stderr.strip().splitlines()) == 1 and "Traceback" not in cli.stderr, cli.stderr
        assert DISK_FULL.search(cli.stderr), cli.stderr
        after_cli = _whole_commits_only(database, clean)
        assert 0 < after_cli < DISK_COMMITS
        observed.append(f"`ades ingest` of a {DISK_COMMITS}-commit history into a {DISK_KB} KiB tmpfs: exit "
                        f"{cli.returncode}, stderr `{cli.stderr.strip()}`; {after_cli} whole commits kept")

        # The API queues an ingest, the worker runs it: the job ends failed, saying why.
        with run_service("ui", tmp_path, workers=1, env=SERVICE_ENV) as ui:
            auth = {"Authorization": f"Bearer {token}"}
            queued = http("POST", ui.url + "/api/repositories/big/ingest", headers=auth)
            assert queued.status == 202, queued.body
            job_id = queued.json()["job"]["id"]
            worker = _ades({**env, "GAIT_METRICS_PORT": str(free_port())}, "worker", "--once",
                           "--poll-seconds", "0.2", timeout=180)
            assert worker.returncode == 0, worker.stderr
            job = http("GET", ui.url + f"/api/jobs/{job_id}", headers=auth)
            assert job.status == 200 and job.json()["status"] == "failed", job.body
            error = job.json()["error"]
            assert DISK_FULL.search(error) and "\n" not in error, error
            # Reads keep working while the disk is full.
            assert http("GET", ui.url + "/api/repositories/big/stats", headers=auth).status == 200
            # A write through the API gets a clear 507, not a 500, and stores nothing. The WAL
            # still holds the failed ingest's frames, whose space later writes reuse: with a
            # little room, move the WAL into the database and truncate it, then fill the disk
            # again, so the write must grow the WAL and cannot.
            _resize(data, DISK_KB + 4096)
            with contextlib.closing(sqlite3.connect(database)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                jobs_before = conn.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0]
            _fill(data / "filler")
            refused = http("POST", ui.url + "/api/repositories/big/ingest", headers=auth)
            assert refused.status == 507, refused.body
            assert refused.json()["code"] == "storage_full", refused.body
            (data / "filler").unlink(missing_ok=True)
            with contextlib.closing(sqlite3.connect(database)) as conn:
                assert conn.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0] == jobs_before
        after_job = _whole_commits_only(database, clean)
        assert after_cli <= after_job < DISK_COMMITS
        observed.append(f"job {job_id} queued through the API, run by `ades worker`: `failed` with error "
                        f"`{error}`; {after_job} whole commits kept; the API kept serving reads, and "
                        f"a write through it got {refused.status} `{refused.json()['error']}`")

        # Room again: a re-run completes and equals a clean ingest.
        _resize(data, 64 * 1024)
        rerun = _ades(env, "ingest", str(repo), "--name", "big", "--no-progress")
        assert rerun.returncode == 0, rerun.stderr
        assert _whole_commits_only(database, clean) == DISK_COMMITS
        from ades.storage import open_store

        with open_store(f"sqlite:///{database}", migrate=False) as store:
            _same_history(snapshot_history(store, "big"), clean)
        observed.append(f"after growing the tmpfs to 64 MiB: the re-run stored the other "
                        f"{DISK_COMMITS - after_job} commits and the database equals a clean ingest "
                        "(integrity_check ok)")
    _results["Disk full under the SQLite data directory"] = observed

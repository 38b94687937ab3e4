"""Helpers shared by the benchmarks: timing subprocesses, sampling RSS, fresh databases."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
PYTHON = sys.executable
POSTGRES_URL = os.environ.get("ADES_BENCH_POSTGRES_URL",
                              os.environ.get("ADES_TEST_POSTGRES_URL",
                                             "postgresql://postgres@127.0.0.1:5432/postgres"))


def _tree(pid: int) -> list[int]:
    """pid and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss_and_name(pid: int) -> tuple[int, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields.get("VmRSS", "0 kB").split()[0]) * 1024, fields["Name"].strip()
    except (OSError, KeyError, ValueError):
        return 0, ""


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `cmd`, returning wall seconds and the peak RSS of its Python processes (the ADES
    side; git children are reported separately)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak = {"python": 0, "python_total": 0, "git": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total = 0
            for pid in _tree(proc.pid):
                rss, name = _rss_and_name(pid)
                if name.startswith("python"):
                    peak["python"] = max(peak["python"], rss)
                    total += rss
                elif name == "git":
                    peak["git"] = max(peak["git"], rss)
            peak["python_total"] = max(peak["python_total"], total)
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {err.decode(errors='replace')[-400:]}")
    return {"seconds": seconds, "stdout": out.decode(), "peak_rss": peak}


def fresh_postgres_database() -> tuple[str, callable]:
    """A new empty database on the benchmark server and a function that drops it."""
    import psycopg

    name = f"ades_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]

    def drop() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def mb(n: int) -> str:
    """Bytes as megabytes."""
    return f"{n / 1e6:.0f} MB"

"""Finding a PostgreSQL server for tests: env URL, testcontainers, or local binaries."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

_started: dict[str, str] = {}


def _can_connect(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _from_docker() -> str | None:
    try:
        import docker  # type: ignore[import-not-found]

        docker.from_env().ping()
    except Exception:
        return None
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]

    container = PostgresContainer("postgres:16-alpine", driver=None)
    container.start()
    atexit.register(container.stop)
    return container.get_connection_url()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_postgres() -> tuple[str, str]:
    """Start a throwaway PostgreSQL from the local binaries; returns (url, data dir).

    The caller owns the instance; `stop_local_postgres(datadir)` stops it.
    """
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        raise RuntimeError("no local PostgreSQL binaries (/usr/lib/postgresql/*/bin/initdb)")
    bindir = os.path.dirname(bins[-1])
    datadir = tempfile.mkdtemp(prefix="ades-pg-")
    user_args: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: hand the directory to the postgres account.
        shutil.chown(datadir, "postgres", "postgres")
        user_args = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*user_args, f"{bindir}/initdb", "-D", datadir, "-U", "postgres",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*user_args, f"{bindir}/pg_ctl", "-D", datadir, "-w", "-l",
                    f"{datadir}/log", "-o", f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1",
                    "start"], check=True, capture_output=True)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir


def stop_local_postgres(datadir: str) -> None:
    """Stop (immediately) an instance started by `start_local_postgres`."""
    bindir = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1])
    user_args = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*user_args, f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"],
                   capture_output=True)


def postgres_admin_url() -> str | None:
    """The URL of a server tests may use, trying env, Docker, then local binaries."""
    if "url" in _started:
        return _started["url"]
    url = os.environ.get("ADES_TEST_POSTGRES_URL") or _from_docker()
    if url is None:
        try:
            url, datadir = start_local_postgres()
        except (RuntimeError, subprocess.CalledProcessError, OSError):
            return None
        atexit.register(stop_local_postgres, datadir)
        deadline = time.monotonic() + 20
        while not _can_connect(url) and time.monotonic() < deadline:
            time.sleep(0.2)
    _started["url"] = url
    return url

"""`ades backup` / `ades restore` on both backends, and `ades serve`'s refusals.

Real databases: SQLite files, and a fresh PostgreSQL database per test restored with the
real pg_dump / pg_restore.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ades(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ades", *args], env=env, input=stdin, text=True,
                          capture_output=True)


@pytest.fixture
def installation(ades_env, tmp_path):
    """A migrated installation on `backend` with one user (carol) and a file in its data dir."""
    env = {**os.environ, **ades_env}
    for key in [k for k in env if k.startswith("GAIT_") and k not in ades_env]:
        del env[key]
    assert ades(env, "db", "upgrade").returncode == 0
    created = ades(env, "users", "create", "carol", "--role", "viewer", stdin="carol-password-long-enough\n")
    assert created.returncode == 0, created.stderr
    data = Path(env["GAIT_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "repos").mkdir(exist_ok=True)
    (data / "repos" / "README").write_text("a cloned repository would live here\n")
    return env


def users(env) -> list[str]:
    result = ades(env, "users", "list", "--json")
    assert result.returncode == 0, result.stderr
    return [u["username"] for u in json.loads(result.stdout)["users"]]


def test_a_backup_restores_the_database_and_data_dir_after_they_are_lost(installation, backend, tmp_path):
    env = installation
    made = ades(env, "backup", "--output", str(tmp_path / "b.tar.gz"), "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["database"] == backend
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "data/repos/README" in names
    assert ("database/ades.db" if backend == "sqlite" else "database/ades.dump") in names

    # Lose a user and the data directory's file.
    ades(env, "users", "create", "dave", "--role", "viewer", stdin="dave-password-long-enough\n")
    (Path(env["GAIT_DATA_DIR"]) / "repos" / "README").unlink()
    refused = ades(env, "restore", str(tmp_path / "b.tar.gz"))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert "dave" in users(env)  # nothing changed

    restored = ades(env, "restore", str(tmp_path / "b.tar.gz"), "--force")
    assert restored.returncode == 0, restored.stderr
    assert sorted(users(env)) == ["carol"]
    assert (Path(env["GAIT_DATA_DIR"]) / "repos" / "README").is_file()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_backups_to_a_directory_keep_only_the_newest(installation, tmp_path):
    env = installation
    backups = tmp_path / "backups"
    backups.mkdir()
    # Two older backups, as earlier nights would have left them.
    for stamp in ("20240101T000000Z", "20240102T000000Z"):
        (backups / f"ades-backup-{stamp}.tar.gz").write_bytes(b"old")
    result = ades(env, "backup", "--output-dir", str(backups), "--keep", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"] == ["ades-backup-20240101T000000Z.tar.gz"]
    assert len(list(backups.glob("ades-backup-*.tar.gz"))) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("content, message", [
    (b"not a tarball", "not a readable .tar.gz backup"),
    (None, "not an ADES backup"),
])
def test_restore_refuses_what_is_not_an_ades_backup(installation, tmp_path, content, message):
    path = tmp_path / "bad.tar.gz"
    if content is None:
        with tarfile.open(path, "w:gz") as tar:
            tar.add(ROOT / "README.md", arcname="README.md")
    else:
        path.write_bytes(content)
    result = ades(installation, "restore", str(path), "--force")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_restore_refuses_a_backup_of_the_other_database_kind(tmp_path, postgres_url):
    sqlite_env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    sqlite_env["GAIT_DATA_DIR"] = str(tmp_path / "sqlite-data")
    assert ades(sqlite_env, "db", "upgrade").returncode == 0
    assert ades(sqlite_env, "backup", "--output", str(tmp_path / "s.tar.gz")).returncode == 0
    pg_env = {**sqlite_env, "GAIT_DATA_DIR": str(tmp_path / "pg-data"), "GAIT_POSTGRES_URL": postgres_url}
    result = ades(pg_env, "restore", str(tmp_path / "s.tar.gz"), "--force")
    assert result.returncode == 2
    assert "holds a sqlite database but the configuration uses postgres" in result.stderr


def test_backup_needs_exactly_one_destination(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    env["GAIT_DATA_DIR"] = str(tmp_path)
    for args in ([], ["--output", "a.tgz", "--output-dir", "d"], ["--output", "a.tgz", "--keep", "3"]):
        result = ades(env, "backup", *args)
        assert result.returncode == 2 and result.stderr.startswith("ades: error:"), args


def test_serve_refuses_a_directory_that_is_not_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    env["GAIT_DATA_DIR"] = str(tmp_path / "data")
    result = ades(env, "serve", "--root", str(tmp_path))
    assert result.returncode == 2
    assert "has no services/ui/gunicorn.conf.py" in result.stderr


def test_serve_plans_gunicorn_per_service_the_worker_and_the_local_gateway(tmp_path):
    import shutil

    from ades.serve import plan

    steps = plan(ROOT, tmp_path, worker=True, gateway=bool(shutil.which("nginx")),
                 environ={"GAIT_PORT": "9999", "PATH": os.environ["PATH"]})
    names = [name for name, _, _ in steps]
    assert names[:5] == ["ui", "ide", "collab", "viz", "worker"]
    for name, argv, env in steps[:4]:
        assert argv[-2:] == ["-c", str(ROOT / "services" / name / "gunicorn.conf.py")]
        assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / f"prometheus-{name}")
        assert "GAIT_PORT" not in env
    # The worker serves its own registry on its own port, apart from every service.
    assert "PROMETHEUS_MULTIPROC_DIR" not in steps[4][2] and "GAIT_METRICS_PORT" not in steps[4][2]
    if shutil.which("nginx"):
        conf = (tmp_path / "gateway" / "nginx.conf").read_text()
        assert "listen 127.0.0.1:8000 default_server;" in conf and "server 127.0.0.1:8081;" in conf

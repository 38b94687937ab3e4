"""The store: migrations applied once however many processes start together, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from ades.storage import StorageError, is_current, open_store
from ades.storage.migrations import available_migrations


@pytest.fixture
def database_url(backend, tmp_path, request):
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/ades.db"


def test_many_workers_opening_a_new_database_apply_each_migration_once(database_url):
    errors = []

    def open_and_close():
        try:
            open_store(database_url).close()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(database_url) as store:
        versions = [v for (v,) in store.query("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in available_migrations(store.dialect)]
        assert is_current(store)


def test_both_backends_ship_the_same_migrations():
    sqlite = [(m.version, m.name) for m in available_migrations("sqlite")]
    postgres = [(m.version, m.name) for m in available_migrations("postgres")]
    assert sqlite == postgres and sqlite


def test_db_upgrade_reports_an_up_to_date_schema_on_the_second_run(backend, tmp_path, request):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    env["GAIT_DATA_DIR"] = str(tmp_path)
    if backend == "postgres":
        env["GAIT_POSTGRES_URL"] = request.getfixturevalue("postgres_url")
    first = subprocess.run([sys.executable, "-m", "ades", "db", "upgrade"], env=env,
                           capture_output=True, text=True, check=True)
    assert "applied 0001_engine" in first.stdout
    second = subprocess.run([sys.executable, "-m", "ades", "db", "upgrade"], env=env,
                            capture_output=True, text=True, check=True)
    assert second.stdout.strip() == "database schema is up to date"


def test_an_unreachable_postgres_is_a_storage_error_not_a_hang():
    with pytest.raises(StorageError, match="cannot connect"):
        open_store("postgresql://postgres@127.0.0.1:1/nothing")


def test_a_failed_write_transaction_leaves_nothing_behind(database_url):
    with open_store(database_url) as store:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.execute("INSERT INTO repositories (name, path, commit_count, created_at) "
                       "VALUES (?, ?, 0, 0)", ("x", "/x"))
            raise RuntimeError("boom")
        assert store.query("SELECT COUNT(*) FROM repositories") == [(0,)]

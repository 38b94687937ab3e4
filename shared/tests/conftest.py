"""Fixtures shared by the library tests: real databases on both backends.

PostgreSQL comes from ADES_TEST_POSTGRES_URL when set, else from a Docker engine through
testcontainers when one answers, else from the local server binaries (initdb + pg_ctl on a
free port). Each test gets its own freshly created database, dropped afterwards. In CI
(CI=true) a PostgreSQL that cannot be had fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid

import pytest
from pgserver import postgres_admin_url


@pytest.fixture(scope="session")
def postgres_server_url():
    """A URL to a PostgreSQL server where tests may create and drop databases."""
    url = postgres_admin_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server available (set ADES_TEST_POSTGRES_URL)")
        pytest.skip("no PostgreSQL server available")
    return url


@pytest.fixture
def postgres_url(postgres_server_url):
    """A URL to a new, empty database that is dropped when the test ends."""
    import psycopg

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"ades_test_{worker}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    """Runs a test once per storage backend."""
    return request.param


@pytest.fixture
def ades_env(request, backend, tmp_path):
    """Environment variables for an `ades` process using a fresh database of `backend`.

    Only GAIT_* settings of the test are included; callers merge them over os.environ.
    """
    env = {"GAIT_DATA_DIR": str(tmp_path / "data")}
    if backend == "postgres":
        env["GAIT_POSTGRES_URL"] = request.getfixturevalue("postgres_url")
    return env

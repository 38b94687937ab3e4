"""Fixtures for the cross-service tests: the library's real-database fixtures, re-exported.

As in services/conftest.py, `shared/tests/conftest.py` is loaded under another module
name, so `backend`, `postgres_url` and `ades_env` mean the same everywhere; the helpers
in shared/tests (service_runner, pgserver, gitrepos) are importable by name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SHARED_TESTS = ROOT / "shared" / "tests"
for path in (ROOT, _SHARED_TESTS, ROOT / "deployments" / "scripts", ROOT / "gateway"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

_spec = importlib.util.spec_from_file_location("ades_shared_test_fixtures_top",
                                               _SHARED_TESTS / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

ades_env = _fixtures.ades_env
backend = _fixtures.backend
postgres_server_url = _fixtures.postgres_server_url
postgres_url = _fixtures.postgres_url

# The security report plugin: the `attacks` fixture and the hook that writes the report.
from security_report import attacks, pytest_sessionfinish  # noqa: E402, F401

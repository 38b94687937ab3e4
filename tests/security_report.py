"""The security report: every attack the security tests try, and what came of it.

A test takes the `attacks` fixture and calls `attacks.record(...)` once per attempt with
what it expected and what it observed; it ends with `attacks.assert_all_refused()`, so the
table is complete even when one attempt gets through. At the end of a session that recorded
anything, `reports/security-report.md` is (re)written: one row per attempt and a summary.
Loaded by tests/conftest.py; under pytest-xdist only the controller could see every row, so
workers write nothing (run `make security-report`, which does not distribute).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT_PATH = ROOT / "reports" / "security-report.md"
_RECORDS = pytest.StashKey[list]()


@dataclass(frozen=True)
class Attack:
    """One attempt: what was tried, against what, what should and did happen."""

    category: str
    attack: str
    target: str
    expected: str
    observed: str
    passed: bool
    test: str


class AttackLog:
    """The attempts of one test, appended to the session's list as they are recorded."""

    def __init__(self, records: list[Attack], test: str) -> None:
        self._records = records
        self._test = test
        self.mine: list[Attack] = []

    def record(self, category: str, attack: str, target: str, *, expected: str, observed: str,
               passed: bool) -> bool:
        """Record one attempt; returns `passed` so a caller may branch on it."""
        entry = Attack(category, _cell(attack), _cell(target), _cell(expected), _cell(observed),
                       bool(passed), self._test)
        self._records.append(entry)
        self.mine.append(entry)
        return entry.passed

    def assert_all_refused(self) -> None:
        """Fail the test, listing them, when any attempt recorded by it succeeded."""
        assert self.mine, "the test recorded no attack"
        failed = [a for a in self.mine if not a.passed]
        assert not failed, "attacks that got through:\n" + "\n".join(
            f"- {a.attack} -> {a.target}: expected {a.expected}, observed {a.observed}" for a in failed)


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell: no pipes, line breaks or live markup, bounded."""
    flat = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = flat.replace("|", "\\|")
    return flat if len(flat) <= 160 else flat[:157] + "..."


@pytest.fixture
def attacks(request) -> AttackLog:
    """The recorder of the attacks a security test tries (see the module docstring)."""
    records = request.config.stash.setdefault(_RECORDS, [])
    return AttackLog(records, request.node.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Write reports/security-report.md when this session recorded any attack."""
    records = session.config.stash.get(_RECORDS, [])
    if not records or hasattr(session.config, "workerinput"):
        return
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(render_report(records))


def render_report(records: list[Attack]) -> str:
    """The Markdown report: a header, the summary, then one table per category."""
    passed = sum(a.passed for a in records)
    lines = [
        "# ADES security report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make security-report` "
        f"(tests/test_security_*.py) at commit {_commit()} on {platform.node()} "
        f"({os.cpu_count()} CPUs, {platform.platform()}).",
        "",
        f"**Summary: {len(records)} attacks tried, {passed} refused as expected, "
        f"{len(records) - passed} got through.**",
        "",
        "| category | attacks | refused | got through |",
        "| --- | ---: | ---: | ---: |",
    ]
    categories: dict[str, list[Attack]] = {}
    for attack in records:
        categories.setdefault(attack.category, []).append(attack)
    for category, items in categories.items():
        ok = sum(a.passed for a in items)
        lines.append(f"| {category} | {len(items)} | {ok} | {len(items) - ok} |")
    for category, items in categories.items():
        lines += ["", f"## {category}", "",
                  "| attack | target | expected | observed | result |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {a.attack} | {a.target} | {a.expected} | {a.observed} | "
                  f"{'pass' if a.passed else '**FAIL**'} |" for a in items]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    result = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() or "unknown"

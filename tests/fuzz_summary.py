"""Write reports/fuzz.md from one `make fuzz` run.

Usage: python tests/fuzz_summary.py TALLIES.jsonl JUNIT.xml OUT.md

TALLIES.jsonl holds one JSON object per service, appended by tests/test_fuzz_api.py when
FUZZ_REPORT is set; JUNIT.xml is pytest's report of the same run, from which the property
tests' outcomes come.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import xml.etree.ElementTree as ET  # noqa: S405 -- our own pytest's report, not untrusted input
from pathlib import Path


def _tallies(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _property_outcomes(path: Path) -> list[tuple[str, str, float]]:
    """(test, outcome, seconds) of every test in the run other than the API fuzz tests."""
    if not path.is_file():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314
        if "test_fuzz_api" in case.get("classname", ""):
            continue
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "FAILED"
            elif child.tag == "skipped":
                outcome = "skipped"
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        out.append((name, outcome, float(case.get("time", 0))))
    return out


def render(tallies: list[dict], properties: list[tuple[str, str, float]]) -> str:
    """The markdown report."""
    lines = [
        "# Fuzzing report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({platform.machine()}, Python {platform.python_version()}) by `make fuzz`.",
        "",
        "## API fuzzing (schemathesis against each service's `/openapi.json`, as an admin)",
        "",
        "Checks on every response: not a 5xx, status code documented, content type documented, "
        "body valid against the documented schema, documented headers present.",
        "",
        "| service | generated requests | operations covered | failures | responses by status |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for t in tallies:
        statuses = ", ".join(f"{code}: {n}" for code, n in t["statuses"].items())
        lines.append(f"| {t['service']} | {t['requests']:,} | {t['operations']} | {t['failures']} "
                     f"| {statuses} |")
    if not tallies:
        lines.append("| (no service ran) | | | | |")
    failures = [(t["service"], f) for t in tallies for f in t["failure_details"]]
    if failures:
        lines += ["", "### Failures", ""]
        for service, failure in failures:
            first = failure.strip().splitlines()[0] if failure.strip() else failure
            lines.append(f"- {service}: {first}")
    lines += ["", "## Property tests (hypothesis)", "", "| test | outcome | seconds |",
              "| --- | --- | ---: |"]
    for name, outcome, seconds in properties:
        lines.append(f"| {name} | {outcome} | {seconds:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Entry point: returns the exit status."""
    if len(argv) != 3:
        print("usage: fuzz_summary.py TALLIES.jsonl JUNIT.xml OUT.md", file=sys.stderr)
        return 2
    tallies_path, junit_path, out_path = (Path(a) for a in argv)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render(_tallies(tallies_path), _property_outcomes(junit_path)), encoding="utf-8")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Review of a unified diff from history: what earlier changes to the same code teach.

`review_diff` suggests, each with a severity, a confidence and the commits behind it:
files that usually change together but are missing from the diff, hotspots touched, code
whose past changes needed follow-up fixes or reverts, missing test changes where tests
usually change, and patterns being added that earlier needed fixes soon after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .. import analytics
from ..analysis.languages import is_test_path, language_for_path
from ..analysis.patterns import detect_patterns
from ..storage import Store
from ..storage.repositories import Repository
from .context import FIX_CATEGORIES, Memo, _direct, check_path, file_risk
from .errors import AssistError

MAX_DIFF_CHARS = 2_000_000
MAX_DIFF_FILES = 300
# Files beyond this many in one diff are listed but not analysed, to bound the work.
MAX_REVIEWED_FILES = 40
FOLLOW_UP_SECONDS = 30 * 24 * 3600
_SEVERITY_WEIGHT = {"critical": 0.6, "warning": 0.3, "info": 0.1}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")


@dataclass
class DiffFile:
    """One file of a unified diff: its paths, hunks and added lines."""

    path: str
    old_path: str | None
    status: str  # "added", "deleted", "modified" or "renamed"
    hunks: list[dict[str, Any]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def _strip_prefix(raw: str) -> str | None:
    name = raw.split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse_unified_diff(text: Any) -> list[DiffFile]:
    """The files of a unified diff (`git diff` output, or plain `---`/`+++` sections).

    Raises AssistError when `text` is not a string, is too large, or holds no file.
    """
    if not isinstance(text, str) or not text.strip():
        raise AssistError("diff must be a non-empty unified diff")
    if len(text) > MAX_DIFF_CHARS:
        raise AssistError(f"diff is larger than {MAX_DIFF_CHARS} characters")
    files: list[DiffFile] = []
    old: str | None = None
    current: DiffFile | None = None
    # Lines still expected in the current hunk (old side, new side): inside a hunk, a
    # line such as "--- x" is a removed line, not the next file's header.
    left_old = left_new = 0
    for line in text.splitlines():
        if line.startswith(("@@ ", "diff --git ")):
            left_old = left_new = 0  # a hand-edited hunk that miscounts its lines ends here
        if left_old > 0 or left_new > 0:
            marker = line[:1]
            if marker in (" ", ""):
                left_old, left_new = left_old - 1, left_new - 1
            elif marker == "-":
                left_old -= 1
            elif marker == "+":
                left_new -= 1
                if current is not None:
                    current.added.append(line[1:])
            elif marker != "\\":
                raise AssistError(f"malformed diff line inside a hunk: {line[:80]}")
        elif line.startswith("diff --git "):
            current, old = None, None
        elif line.startswith("--- "):
            old = _strip_prefix(line[4:])
        elif line.startswith("+++ "):
            new = _strip_prefix(line[4:])
            path = new or old
            if path is None:
                continue
            status = ("added" if old is None else "deleted" if new is None
                      else "renamed" if old != new else "modified")
            current = DiffFile(path=path, old_path=old if status == "renamed" else None,
                               status=status)
            files.append(current)
        elif current is not None and line.startswith("@@"):
            match = _HUNK.match(line)
            if match is None:
                raise AssistError(f"malformed hunk header: {line[:80]}")
            hunk = {"old_start": int(match[1]), "old_lines": int(match[2] or 1),
                    "new_start": int(match[3]), "new_lines": int(match[4] or 1),
                    "function": match[5].strip()}
            current.hunks.append(hunk)
            left_old, left_new = hunk["old_lines"], hunk["new_lines"]
    if not files:
        raise AssistError("diff holds no file changes (expected ---/+++ headers)")
    if len(files) > MAX_DIFF_FILES:
        raise AssistError(f"diff changes more than {MAX_DIFF_FILES} files")
    for diff_file in files:
        diff_file.path = check_path(diff_file.path)
    return files


def _commits_changing_both(store: Store, repo_id: int, path: str, other: str,
                           limit: int = 3) -> list[str]:
    return [h for (h,) in store.query(
        "SELECT c.hash FROM file_changes a JOIN file_changes b ON b.commit_id = a.commit_id "
        "AND b.path = ? JOIN commits c ON c.id = a.commit_id WHERE a.repo_id = ? AND a.path = ? "
        "ORDER BY c.id DESC LIMIT ?", (other, repo_id, path, limit))]


def _recent_commits(store: Store, repo_id: int, path: str, categories: tuple[str, ...] = (),
                    limit: int = 3) -> list[str]:
    extra = f" AND c.category IN ({','.join('?' * len(categories))})" if categories else ""
    return [h for (h,) in store.query(
        "SELECT c.hash FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        f"WHERE fc.repo_id = ? AND fc.path = ?{extra} ORDER BY c.id DESC LIMIT ?",
        (repo_id, path, *categories, limit))]


def _suggestion(kind: str, severity: str, confidence: float, path: str, message: str,
                commits: list[str], **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "severity": severity, "confidence": round(min(1.0, confidence), 3),
            "path": path, "message": message, "commits": commits, **extra}


def _missing_co_changes(store: Store, repo_id: int, diff_file: DiffFile,
                        in_diff: set[str]) -> list[dict[str, Any]]:
    out = []
    for partner in analytics.co_changes(store, repo_id, diff_file.path, limit=10, min_support=3):
        if partner["path"] in in_diff or partner["confidence"] < 0.4:
            continue
        confidence, support = partner["confidence"], partner["support"]
        severity = ("critical" if confidence >= 0.9 and support >= 10
                    else "warning" if confidence >= 0.6 else "info")
        out.append(_suggestion(
            "missing_co_change", severity, confidence, diff_file.path,
            f"{partner['path']} changed together with {diff_file.path} in {support} commits "
            f"({round(confidence * 100)}% of its changes) but is not in this diff",
            _commits_changing_both(store, repo_id, diff_file.path, partner["path"]),
            related_path=partner["path"], support=support))
    return out


def _fix_prone(store: Store, repo_id: int, diff_file: DiffFile,
               risk: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    functions = sorted({h["function"] for h in diff_file.hunks if h["function"]})
    for function in functions[:10]:
        rows = store.query(
            "SELECT DISTINCT c.hash, c.id FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
            "JOIN hunks h ON h.commit_id = c.id AND h.path = fc.path "
            f"WHERE fc.repo_id = ? AND fc.path = ? AND c.category IN ({','.join('?' * len(FIX_CATEGORIES))}) "
            "AND h.function = ? ORDER BY c.id DESC", (repo_id, diff_file.path, *FIX_CATEGORIES, function))
        if len(rows) >= 2:
            out.append(_suggestion(
                "fix_prone_code", "warning" if len(rows) >= 4 else "info",
                min(1.0, len(rows) / 6), diff_file.path,
                f"{function!r} in {diff_file.path} needed {len(rows)} fixes or reverts before",
                [h for h, _ in rows[:3]], function=function))
    ratio = risk["fixes"] / risk["changes"] if risk["changes"] else 0.0
    if risk["fixes"] >= 3 and ratio >= 0.3:
        out.append(_suggestion(
            "fix_prone_file", "warning" if ratio >= 0.5 else "info", ratio, diff_file.path,
            f"{risk['fixes']} of the {risk['changes']} changes to {diff_file.path} were fixes "
            "or reverts; plan for a careful review", _recent_commits(
                store, repo_id, diff_file.path, FIX_CATEGORIES)))
    return out


def _missing_tests(store: Store, repo_id: int, diff_file: DiffFile) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT mine.commit_id, other.path FROM file_changes mine "
        "JOIN file_changes other ON other.commit_id = mine.commit_id AND other.path <> mine.path "
        "WHERE mine.repo_id = ? AND mine.path = ? AND mine.commit_id IN (SELECT fc.commit_id "
        "FROM file_changes fc WHERE fc.repo_id = ? AND fc.path = ? ORDER BY fc.commit_id DESC "
        "LIMIT 100)", (repo_id, diff_file.path, repo_id, diff_file.path))
    changes = store.query_one(
        "SELECT COUNT(*) FROM (SELECT 1 FROM file_changes WHERE repo_id = ? AND path = ? "
        "LIMIT 100) AS recent", (repo_id, diff_file.path))[0]
    with_tests = {commit_id for commit_id, path in rows if is_test_path(path)}
    if changes < 3:
        return None
    share = len(with_tests) / changes
    if share < 0.3:
        return None
    hashes = [h for (h,) in store.query(
        f"SELECT hash FROM commits WHERE id IN ({','.join('?' * len(with_tests))}) "
        "ORDER BY id DESC LIMIT 3", sorted(with_tests))]
    return _suggestion(
        "missing_tests", "warning" if share >= 0.5 else "info", share, diff_file.path,
        f"{round(share * 100)}% of recent changes to {diff_file.path} also changed tests; "
        "this diff changes none", hashes)


def _risky_patterns(store: Store, repo_id: int, diff_file: DiffFile) -> list[dict[str, Any]]:
    if not diff_file.added:
        return []
    out = []
    language = language_for_path(diff_file.path)
    for match in detect_patterns(diff_file.path, language, "\n".join(diff_file.added)):
        rows = store.query(
            "SELECT p.commit_id, (SELECT MIN(f.commit_id) FROM file_changes f "
            "JOIN commits c2 ON c2.id = f.commit_id WHERE f.repo_id = p.repo_id AND f.path = p.path "
            "AND f.commit_id > p.commit_id AND c2.author_time <= c.author_time + ? "
            f"AND c2.category IN ({','.join('?' * len(FIX_CATEGORIES))})) FROM pattern_occurrences p "
            "JOIN commits c ON c.id = p.commit_id WHERE p.repo_id = ? AND p.pattern = ? "
            "ORDER BY p.commit_id DESC LIMIT 200",
            (FOLLOW_UP_SECONDS, *FIX_CATEGORIES, repo_id, match.pattern))
        followed = [fix for _, fix in rows if fix is not None]
        if len(rows) < 3 or len(followed) / len(rows) < 0.3:
            continue
        ratio = len(followed) / len(rows)
        fixes = [h for (h,) in store.query(
            f"SELECT hash FROM commits WHERE id IN ({','.join('?' * len(followed[:3]))})",
            followed[:3])]
        out.append(_suggestion(
            "pattern_needed_fixes", "warning" if ratio >= 0.5 else "info", ratio, diff_file.path,
            f"pattern {match.pattern!r} was followed by a fix to the same file within 30 days "
            f"in {len(followed)} of {len(rows)} earlier uses", fixes, pattern=match.pattern,
            line=match.line))
    return out


def review_diff(store: Store, repo: Repository, diff: Any, *,
                memo: Memo = _direct) -> dict[str, Any]:
    """Review suggestions for a unified diff, most severe first, and an overall risk.

    Raises AssistError for a diff that cannot be parsed.
    """
    files = parse_unified_diff(diff)
    in_diff = {f.path for f in files} | {f.old_path for f in files if f.old_path}
    diff_has_tests = any(is_test_path(p) for p in in_diff)
    suggestions: list[dict[str, Any]] = []
    reviewed = []
    for diff_file in files[:MAX_REVIEWED_FILES]:
        risk = file_risk(store, repo.id, diff_file.path, memo=memo)
        reviewed.append({"path": diff_file.path, "status": diff_file.status,
                         "hunks": len(diff_file.hunks), "risk": risk})
        if diff_file.status == "deleted":
            continue
        suggestions += _missing_co_changes(store, repo.id, diff_file, in_diff)
        if risk["level"] != "low":
            suggestions.append(_suggestion(
                "hotspot", "warning" if risk["level"] == "high" else "info", risk["score"],
                diff_file.path, f"{diff_file.path} is a hotspot: {risk['changes']} changes by "
                f"{risk['authors']} authors", _recent_commits(store, repo.id, diff_file.path)))
        suggestions += _fix_prone(store, repo.id, diff_file, risk)
        if not diff_has_tests and not is_test_path(diff_file.path):
            missing = _missing_tests(store, repo.id, diff_file)
            if missing is not None:
                suggestions.append(missing)
        suggestions += _risky_patterns(store, repo.id, diff_file)
    order = {"critical": 0, "warning": 1, "info": 2}
    suggestions.sort(key=lambda s: (order[s["severity"]], -s["confidence"], s["path"], s["kind"]))
    calm = 1.0
    for s in suggestions:
        calm *= 1 - _SEVERITY_WEIGHT[s["severity"]] * s["confidence"]
    worst_file = max((f["risk"]["score"] for f in reviewed), default=0.0)
    overall = round(max(worst_file, 1 - calm), 3)
    return {"repository": repo.name,
            "risk": {"score": overall,
                     "level": "high" if overall >= 0.6 else "medium" if overall >= 0.35 else "low"},
            "files": reviewed, "files_not_reviewed": [f.path for f in files[MAX_REVIEWED_FILES:]],
            "suggestions": suggestions}

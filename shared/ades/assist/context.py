"""The context of one file, as an assistant wants to read it before touching that file.

`file_context` answers, in reading order: a one-line summary, the risk score, the files
that usually change with it (temporal coupling), the past changes most relevant to it,
its experts (ownership weighted by recency), its change history and the code patterns
used there — trimmed to the token budget the client passes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .. import analytics
from ..search import SearchError, SearchFilters, search_experiences
from ..storage import Store
from ..storage.repositories import Repository
from .errors import AssistError

T = TypeVar("T")
Memo = Callable[[Hashable, Callable[[], T]], T]

# An expert's weight halves for every year since their change.
EXPERT_HALF_LIFE_SECONDS = 365 * 24 * 3600
FIX_CATEGORIES = ("bugfix", "revert")
# How much a past change's category says about a file's pitfalls.
_CATEGORY_WEIGHT = {"security": 1.2, "bugfix": 1.0, "revert": 1.0, "performance": 0.8,
                    "feature": 0.6, "refactor": 0.5}
MAX_PATH_CHARS = 4096
MIN_TOKEN_BUDGET, MAX_TOKEN_BUDGET = 200, 100_000
DEFAULT_TOKEN_BUDGET = 4000
RECENT_CHANGES_SCANNED = 300


def _direct(_key: Hashable, fn: Callable[[], T]) -> T:
    return fn()


def check_path(path: Any) -> str:
    """`path` as a repository-relative file path; raises AssistError when it cannot be one."""
    if not isinstance(path, str) or not path.strip():
        raise AssistError("path must be a non-empty string")
    path = path.strip().removeprefix("./")
    if len(path) > MAX_PATH_CHARS or "\x00" in path or path.startswith("/"):
        raise AssistError("path must be a repository-relative path of at most 4096 characters")
    return path


def _reference_time(store: Store, repo_id: int) -> int:
    # The newest commit, not the wall clock: the same history always ranks the same way.
    return int(store.query_one("SELECT COALESCE(MAX(author_time), 0) FROM commits "
                               "WHERE repo_id = ?", (repo_id,))[0])


def _max_file_changes(store: Store, repo_id: int) -> int:
    top = analytics.file_change_counts(store, repo_id, limit=1)
    return top[0][1] if top else 0


def experts(store: Store, repo_id: int, path: str, *, limit: int = 5,
            now: int | None = None) -> list[dict[str, Any]]:
    """Who knows `path` best: each author's changes to it, weighted by size and recency.

    A change weighs (1 + log2(1 + lines changed)), halved for each year between it and
    `now` (default: the repository's newest commit). `share` is the author's part of the
    file's total weight.
    """
    rows = store.query(
        "SELECT c.author_email, c.author_name, c.author_time, fc.added + fc.deleted "
        "FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        "WHERE fc.repo_id = ? AND fc.path = ?", (repo_id, path))
    if not rows:
        return []
    now = _reference_time(store, repo_id) if now is None else now
    people: dict[str, dict[str, Any]] = {}
    for email, name, when, churn in rows:
        age = max(0, now - int(when))
        weight = (1 + math.log2(1 + int(churn or 0))) * 0.5 ** (age / EXPERT_HALF_LIFE_SECONDS)
        person = people.setdefault(email, {"name": name, "email": email, "commits": 0,
                                           "weight": 0.0, "last_change_at": 0})
        person["commits"] += 1
        person["weight"] += weight
        if int(when) >= person["last_change_at"]:
            person["last_change_at"], person["name"] = int(when), name
    total = sum(p["weight"] for p in people.values()) or 1.0
    ranked = sorted(people.values(), key=lambda p: (-p["weight"], p["email"]))[:limit]
    for person in ranked:
        person["share"] = round(person["weight"] / total, 4)
        person["weight"] = round(person["weight"], 3)
    return ranked


def file_risk(store: Store, repo_id: int, path: str, *,
              memo: Memo = _direct) -> dict[str, Any]:
    """How risky changing `path` is, 0..1, with the components that make the score.

    change_frequency: log-scaled changes against the repository's most changed file;
    fix_ratio: the share of its changes that were bug fixes or reverts (smoothed);
    author_spread: how many people changed it (8 or more counts as fully spread).
    """
    changes, fixes, authors = store.query_one(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN c.category IN (?, ?) THEN 1 ELSE 0 END), 0), "
        "COUNT(DISTINCT c.author_email) FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        "WHERE fc.repo_id = ? AND fc.path = ?", (*FIX_CATEGORIES, repo_id, path))
    changes, fixes, authors = int(changes), int(fixes), int(authors)
    most = memo(("assist.max_file_changes", repo_id), lambda: _max_file_changes(store, repo_id))
    frequency = math.log1p(changes) / math.log1p(most) if most else 0.0
    fix_ratio = fixes / (changes + 2)
    spread = min(1.0, authors / 8)
    score = round(0.45 * frequency + 0.35 * min(1.0, 2 * fix_ratio) + 0.2 * spread, 3)
    level = "high" if score >= 0.6 else "medium" if score >= 0.35 else "low"
    return {"score": score, "level": level, "changes": changes, "fixes": fixes,
            "authors": authors, "components": {"change_frequency": round(frequency, 3),
                                               "fix_ratio": round(fix_ratio, 3),
                                               "author_spread": round(spread, 3)}}


def coupled_files(store: Store, repo_id: int, path: str, *, limit: int = 10,
                  before: int | None = None) -> list[dict[str, Any]]:
    """The co-changes `file_context` reports (support of at least 2), optionally as the
    history stood before commit id `before` — what the replay evaluation measures."""
    return analytics.co_changes(store, repo_id, path, limit=limit, min_support=2, before=before)


def _line_range(lines: Any) -> tuple[int, int] | None:
    if lines is None:
        return None
    if (isinstance(lines, list | tuple) and len(lines) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in lines)
            and 1 <= lines[0] <= lines[1]):
        return int(lines[0]), int(lines[1])
    if isinstance(lines, str):
        first, _, last = lines.partition("-")
        if first.strip().isdigit() and (last.strip().isdigit() or not last):
            start, end = int(first), int(last or first)
            if 1 <= start <= end:
                return start, end
    raise AssistError("lines must be [start, end] or \"start-end\" with 1 <= start <= end")


def relevant_experiences(store: Store, repo: Repository, path: str, *,
                         lines: tuple[int, int] | None = None, symbol: str | None = None,
                         snippet: str | None = None, limit: int = 5,
                         now: int | None = None) -> list[dict[str, Any]]:
    """The past changes to `path` most worth reading, best first.

    Recent changes and bug fixes rank higher; so do changes whose hunks overlap `lines`,
    touched a function named like `symbol`, or match the words of `snippet`.
    """
    rows = store.query_dicts(
        "SELECT c.id, c.hash AS \"commit\", e.title, e.category, e.authored_at AS date, "
        "e.author_name AS author, e.problem, e.solution, e.patterns FROM commits c "
        "JOIN experiences e ON e.commit_id = c.id WHERE c.id IN (SELECT fc.commit_id "
        "FROM file_changes fc WHERE fc.repo_id = ? AND fc.path = ? "
        "ORDER BY fc.commit_id DESC LIMIT ?) ORDER BY c.id DESC",
        (repo.id, path, RECENT_CHANGES_SCANNED))
    if not rows:
        return []
    now = _reference_time(store, repo.id) if now is None else now
    hunk_hits: dict[int, list[str]] = {}
    if lines is not None or symbol:
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        for commit_id, start, count, function in store.query(
                "SELECT commit_id, new_start, new_lines, function FROM hunks "
                f"WHERE commit_id IN ({marks}) AND path = ?", [*ids, path]):
            reasons = hunk_hits.setdefault(commit_id, [])
            if lines is not None and start <= lines[1] and start + max(count, 1) - 1 >= lines[0]:
                reasons.append("touched these lines")
            if symbol and symbol.lower() in (function or "").lower():
                reasons.append(f"changed {symbol}")
    matched: set[str] = set()
    if snippet:
        try:
            matched = {r.commit for r in search_experiences(
                store, snippet, SearchFilters(repo=repo.name, path_prefix=path), limit=50)}
        except SearchError:
            matched = set()
    scored = []
    for row in rows:
        age_years = max(0, now - int(row["date"])) / EXPERT_HALF_LIFE_SECONDS
        why = []
        score = 0.5 ** age_years + _CATEGORY_WEIGHT.get(row["category"], 0.3)
        if row["category"] in FIX_CATEGORIES:
            why.append(row["category"])
        reasons = sorted(set(hunk_hits.get(row["id"], [])))
        score += 1.5 * len(reasons)
        why += reasons
        if row["commit"] in matched:
            score += 1.5
            why.append("matches the snippet")
        scored.append((score, row, why))
    scored.sort(key=lambda item: (-item[0], -item[1]["id"]))
    out = []
    for score, row, why in scored[:limit]:
        row = dict(row)
        row.pop("id")
        row["patterns"] = [p for p in row["patterns"].split(",") if p]
        row["relevance"] = round(score, 3)
        row["why"] = ", ".join(why) or "recent change to this file"
        out.append(row)
    return out


def file_patterns(store: Store, repo_id: int, path: str, limit: int = 10) -> list[dict[str, Any]]:
    """The code patterns added to `path` over its history, most frequent first."""
    return store.query_dicts(
        "SELECT p.pattern, COUNT(*) AS occurrences, MAX(c.author_time) AS last_seen, "
        "MAX(c.hash) AS example_commit FROM file_changes fc "
        "JOIN pattern_occurrences p ON p.commit_id = fc.commit_id AND p.path = fc.path "
        "JOIN commits c ON c.id = fc.commit_id WHERE fc.repo_id = ? AND fc.path = ? "
        "GROUP BY p.pattern ORDER BY occurrences DESC, p.pattern LIMIT ?", (repo_id, path, limit))


def file_context(store: Store, repo: Repository, path: Any, *, lines: Any = None,
                 symbol: Any = None, snippet: Any = None, token_budget: Any = None,
                 memo: Memo = _direct) -> dict[str, Any]:
    """Everything history says about `path`, in the order an assistant should read it.

    `co_changes` lists `{"path", "support", "confidence"}`. The answer is trimmed (least
    important items first) to roughly `token_budget` tokens of JSON (about 4 characters
    each); `budget` reports the estimate and whether anything was left out. Raises
    AssistError for invalid arguments.
    """
    path = check_path(path)
    span = _line_range(lines)
    if symbol is not None and (not isinstance(symbol, str) or len(symbol) > 200):
        raise AssistError("symbol must be a string of at most 200 characters")
    if snippet is not None and (not isinstance(snippet, str) or len(snippet) > 20_000):
        raise AssistError("snippet must be a string of at most 20000 characters")
    budget = DEFAULT_TOKEN_BUDGET if token_budget is None else token_budget
    if (not isinstance(budget, int) or isinstance(budget, bool)
            or not MIN_TOKEN_BUDGET <= budget <= MAX_TOKEN_BUDGET):
        raise AssistError(f"token_budget must be an integer from {MIN_TOKEN_BUDGET} "
                          f"to {MAX_TOKEN_BUDGET}")
    now = memo(("assist.reference_time", repo.id), lambda: _reference_time(store, repo.id))
    history = analytics.file_history(store, repo.id, path, limit=5)
    risk = file_risk(store, repo.id, path, memo=memo)
    coupled = coupled_files(store, repo.id, path)
    people = experts(store, repo.id, path, now=now)
    found = relevant_experiences(store, repo, path, lines=span, symbol=symbol or None,
                                 snippet=snippet or None, now=now)
    answer = {
        "repository": repo.name,
        "path": path,
        "known": history["changes"] > 0,
        "summary": _summary(path, history, risk, coupled, people),
        "risk": risk,
        "co_changes": coupled,
        "experiences": found,
        "experts": people,
        "history": history,
        "patterns": file_patterns(store, repo.id, path),
    }
    return fit_to_budget(answer, budget)


def _summary(path: str, history: dict[str, Any], risk: dict[str, Any],
             coupled: list[dict[str, Any]], people: list[dict[str, Any]]) -> str:
    if not history["changes"]:
        return f"{path} has no recorded history in this repository."
    parts = [f"{path}: {history['changes']} changes by {history['authors']} authors, "
             f"{risk['fixes']} of them fixes; risk {risk['level']} ({risk['score']})."]
    if coupled:
        parts.append("Usually changes with " + ", ".join(
            f"{c['path']} ({round(c['confidence'] * 100)}%)" for c in coupled[:3]) + ".")
    if people:
        parts.append(f"Ask {people[0]['name']} <{people[0]['email']}>.")
    return " ".join(parts)


def estimate_tokens(value: Any) -> int:
    """A rough token count of `value` serialised as JSON (4 characters per token)."""
    return math.ceil(len(json.dumps(value, separators=(",", ":"), default=str)) / 4)


# What goes first when an answer is over budget: the least useful items of each list.
_TRIM_ORDER = (("patterns",), ("history", "recent_commits"), ("experts",), ("experiences",),
               ("co_changes",))


def fit_to_budget(answer: dict[str, Any], budget: int) -> dict[str, Any]:
    """Drop list items from the end of the least important sections until `answer` fits
    `budget` tokens; long experience texts are shortened first. Adds `budget`."""
    omitted = 0
    if estimate_tokens(answer) > budget:
        for item in answer.get("experiences", []):
            for key in ("problem", "solution"):
                if len(item.get(key) or "") > 200:
                    item[key] = item[key][:200] + "…"
    for keys in _TRIM_ORDER:
        holder: Any = answer
        for key in keys[:-1]:
            holder = holder.get(key, {})
        items = holder.get(keys[-1])
        while isinstance(items, list) and items and estimate_tokens(answer) > budget:
            items.pop()
            omitted += 1
    answer["budget"] = {"token_budget": budget, "estimated_tokens": estimate_tokens(answer),
                        "omitted_items": omitted, "truncated": omitted > 0}
    return answer


def repository_overview(store: Store, repo: Repository, *, memo: Memo = _direct) -> dict[str, Any]:
    """A repository at a glance: size, activity span, hotspots, top authors, categories."""
    def compute() -> dict[str, Any]:
        stats = analytics.repository_stats(store, repo.id, top=10)
        return {"repository": repo.name, "head_commit": repo.head_commit,
                "default_branch": repo.default_branch, "stats": stats,
                "hotspots": analytics.hotspots(store, repo.id, limit=10),
                "authors": analytics.author_activity(store, repo.id, limit=10),
                "categories": analytics.category_mix(store, repo.id)}

    return memo(("assist.overview", repo.id), compute)

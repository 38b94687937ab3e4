"""History analytics computed in the database: the numbers the ide and viz services show.

Every function takes a store and a repository id and aggregates in SQL; nothing loads a
repository's whole history into Python. Counts follow SPEC §9: per-file numbers come from
non-merge commits diffed with renames off, line sums skip binary files.
"""

from __future__ import annotations

import math
from typing import Any

from .storage import Store

WEEK = 7 * 24 * 3600
# 1970-01-05 was a Monday: weeks are Monday-based, in UTC.
_WEEK_ORIGIN = 4 * 24 * 3600
# Commits touching more files than this say little about which files belong together.
MAX_COUPLING_COMMIT_FILES = 50


def _path_order(store: Store) -> str:
    # Byte order on both backends, so ties sort exactly as Python and git tooling do.
    return 'path COLLATE "C"' if store.dialect == "postgres" else "path"


def repository_stats(store: Store, repo_id: int, top: int = 20) -> dict[str, Any]:
    """The SPEC §9 numbers (`commits`, `authors`, `lines_added`, `lines_deleted`,
    `top_files`) plus a few more descriptive ones."""
    commits, authors, merges, first, last = store.query_one(
        "SELECT COUNT(*), COUNT(DISTINCT author_email), COALESCE(SUM(is_merge), 0), "
        "MIN(author_time), MAX(author_time) FROM commits WHERE repo_id = ?", (repo_id,))
    added, deleted, files, binary = store.query_one(
        "SELECT COALESCE(SUM(CASE WHEN is_binary = 0 THEN added ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN is_binary = 0 THEN deleted ELSE 0 END), 0), "
        "COUNT(DISTINCT path), COALESCE(SUM(is_binary), 0) FROM file_changes WHERE repo_id = ?",
        (repo_id,))
    return {
        "commits": int(commits),
        "authors": int(authors),
        "merges": int(merges),
        "lines_added": int(added),
        "lines_deleted": int(deleted),
        "files": int(files),
        "binary_changes": int(binary),
        "first_commit_at": first,
        "last_commit_at": last,
        "top_files": [{"path": p, "count": n} for p, n in file_change_counts(store, repo_id, top)],
    }


def file_change_counts(store: Store, repo_id: int, limit: int | None = None,
                       path_prefix: str | None = None) -> list[tuple[str, int]]:
    """(path, number of non-merge commits that changed it), most changed first."""
    sql = "SELECT path, COUNT(*) AS n FROM file_changes WHERE repo_id = ?"
    params: list[Any] = [repo_id]
    if path_prefix:
        sql += " AND substr(path, 1, ?) = ?"
        params += [len(path_prefix), path_prefix]
    sql += f" GROUP BY path ORDER BY n DESC, {_path_order(store)}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [(p, int(n)) for p, n in store.query(sql, params)]


def file_history(store: Store, repo_id: int, path: str, limit: int = 20) -> dict[str, Any]:
    """Change summary of one file: counts, churn, first/last change, recent commits."""
    row = store.query_one(
        "SELECT COUNT(*), COALESCE(SUM(fc.added), 0), COALESCE(SUM(fc.deleted), 0), "
        "MIN(c.author_time), MAX(c.author_time), COUNT(DISTINCT c.author_email) "
        "FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        "WHERE fc.repo_id = ? AND fc.path = ?", (repo_id, path))
    recent = store.query_dicts(
        "SELECT c.hash AS \"commit\", c.subject, c.author_name AS author, c.author_time AS date, "
        "c.category, fc.added, fc.deleted, fc.change_type FROM file_changes fc "
        "JOIN commits c ON c.id = fc.commit_id WHERE fc.repo_id = ? AND fc.path = ? "
        "ORDER BY c.author_time DESC, c.id DESC LIMIT ?", (repo_id, path, limit))
    changes, added, deleted, first, last, authors = row
    return {"path": path, "changes": int(changes), "lines_added": int(added),
            "lines_deleted": int(deleted), "first_change_at": first, "last_change_at": last,
            "authors": int(authors), "recent_commits": recent}


def hotspots(store: Store, repo_id: int, limit: int = 20,
             path_prefix: str | None = None) -> list[dict[str, Any]]:
    """Files that change often and a lot, scored changes x log2(1 + churn), live files only."""
    sql = ("SELECT fc.path, COUNT(*) AS changes, SUM(fc.added + fc.deleted) AS churn, "
           "MAX(c.author_time) AS last_change, COUNT(DISTINCT c.author_email) AS authors "
           "FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
           "WHERE fc.repo_id = ? AND fc.is_binary = 0")
    params: list[Any] = [repo_id]
    if path_prefix:
        sql += " AND substr(fc.path, 1, ?) = ?"
        params += [len(path_prefix), path_prefix]
    sql += " GROUP BY fc.path ORDER BY COUNT(*) DESC LIMIT ?"
    params.append(max(limit * 5, 100))
    rows = store.query_dicts(sql, params)
    live = _live_paths(store, repo_id, [r["path"] for r in rows])
    scored = []
    for r in rows:
        if r["path"] not in live:
            continue
        r["churn"] = int(r["churn"] or 0)
        r["score"] = round(r["changes"] * math.log2(1 + r["churn"]), 2)
        scored.append(r)
    scored.sort(key=lambda r: (-r["score"], r["path"]))
    return scored[:limit]


def _live_paths(store: Store, repo_id: int, paths: list[str]) -> set[str]:
    """Those of `paths` whose most recent change did not delete them."""
    if not paths:
        return set()
    marks = ",".join("?" * len(paths))
    rows = store.query(
        "SELECT fc.path, fc.change_type FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        f"WHERE fc.repo_id = ? AND fc.path IN ({marks}) ORDER BY c.commit_time, c.id",
        [repo_id, *paths])
    last: dict[str, str] = {}
    for path, change_type in rows:
        last[path] = change_type
    return {p for p, t in last.items() if t != "D"}


def co_changes(store: Store, repo_id: int, path: str, limit: int = 10,
               min_support: int = 2, before: int | None = None) -> list[dict[str, Any]]:
    """Files that change together with `path` (temporal coupling).

    support = commits that changed both; confidence = support / commits that changed `path`.
    Commits touching more than MAX_COUPLING_COMMIT_FILES files are ignored. `before` (a
    commit id) restricts the history to commits stored before it, as replays need.
    """
    bound = "" if before is None else " AND c.id < ?"
    extra: tuple[Any, ...] = () if before is None else (before,)
    total = store.query_one(
        "SELECT COUNT(*) FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        f"WHERE fc.repo_id = ? AND fc.path = ? AND c.files_changed <= ?{bound}",
        (repo_id, path, MAX_COUPLING_COMMIT_FILES, *extra))[0]
    if not total:
        return []
    rows = store.query(
        "SELECT other.path, COUNT(*) AS support FROM file_changes mine "
        "JOIN commits c ON c.id = mine.commit_id "
        "JOIN file_changes other ON other.commit_id = mine.commit_id AND other.path <> mine.path "
        f"WHERE mine.repo_id = ? AND mine.path = ? AND c.files_changed <= ?{bound} "
        f"GROUP BY other.path HAVING COUNT(*) >= ? ORDER BY support DESC, other.{_path_order(store)} "
        "LIMIT ?", (repo_id, path, MAX_COUPLING_COMMIT_FILES, *extra, min_support, limit))
    return [{"path": p, "support": int(s), "confidence": round(int(s) / total, 4)}
            for p, s in rows]


def ownership(store: Store, repo_id: int, path_prefix: str = "",
              limit: int = 10) -> dict[str, Any]:
    """Who changed the files under `path_prefix` (lines added+deleted), and the bus factor:
    the fewest authors who together account for more than half of that churn."""
    rows = store.query(
        "SELECT c.author_email, MAX(c.author_name), COUNT(DISTINCT c.id), "
        "SUM(fc.added + fc.deleted), MAX(c.author_time) FROM file_changes fc "
        "JOIN commits c ON c.id = fc.commit_id WHERE fc.repo_id = ? AND fc.is_binary = 0 "
        "AND substr(fc.path, 1, ?) = ? GROUP BY c.author_email ORDER BY 4 DESC, 1",
        (repo_id, len(path_prefix), path_prefix))
    total = sum(int(r[3] or 0) for r in rows)
    owners, running, bus = [], 0, 0
    for email, name, commits, churn, last in rows:
        churn = int(churn or 0)
        if running * 2 <= total:
            bus += 1
        running += churn
        owners.append({"email": email, "name": name, "commits": int(commits), "churn": churn,
                       "share": round(churn / total, 4) if total else 0.0, "last_change_at": last})
    return {"path_prefix": path_prefix, "total_churn": total, "bus_factor": bus if total else 0,
            "owners": owners[:limit], "authors": len(owners)}


def code_age(store: Store, repo_id: int, limit: int = 50,
             path_prefix: str | None = None) -> list[dict[str, Any]]:
    """Live files with the time of their last change, oldest first."""
    sql = ("SELECT fc.path, MAX(c.author_time) AS last_change FROM file_changes fc "
           "JOIN commits c ON c.id = fc.commit_id WHERE fc.repo_id = ?")
    params: list[Any] = [repo_id]
    if path_prefix:
        sql += " AND substr(fc.path, 1, ?) = ?"
        params += [len(path_prefix), path_prefix]
    sql += " GROUP BY fc.path"
    rows = store.query(sql, params)
    live = _live_paths(store, repo_id, [p for p, _ in rows]) if len(rows) <= 5000 else None
    out = [{"path": p, "last_change_at": t} for p, t in rows if live is None or p in live]
    out.sort(key=lambda r: (r["last_change_at"], r["path"]))
    return out[:limit]


def weekly_activity(store: Store, repo_id: int, since: int | None = None,
                    until: int | None = None) -> list[dict[str, Any]]:
    """Commits per Monday-based UTC week, split by category (weeks with none are omitted)."""
    sql = (f"SELECT (author_time - {_WEEK_ORIGIN}) / {WEEK} AS wk, category, COUNT(*), "
           "SUM(lines_added), SUM(lines_deleted) FROM commits WHERE repo_id = ?")
    params: list[Any] = [repo_id]
    if since is not None:
        sql += " AND author_time >= ?"
        params.append(since)
    if until is not None:
        sql += " AND author_time <= ?"
        params.append(until)
    sql += " GROUP BY wk, category ORDER BY wk"
    weeks: dict[int, dict[str, Any]] = {}
    for wk, category, n, added, deleted in store.query(sql, params):
        w = weeks.setdefault(int(wk), {"week_start": int(wk) * WEEK + _WEEK_ORIGIN, "commits": 0,
                                       "lines_added": 0, "lines_deleted": 0, "by_category": {}})
        w["commits"] += int(n)
        w["lines_added"] += int(added or 0)
        w["lines_deleted"] += int(deleted or 0)
        w["by_category"][category] = int(n)
    return [weeks[k] for k in sorted(weeks)]


def forecast_weekly(series: list[float], horizon: int = 8) -> dict[str, Any]:
    """Least-squares linear trend over a weekly series, projected `horizon` weeks ahead, with a
    95% prediction band from the residuals. Returns the model name with the numbers."""
    n = len(series)
    if n < 3:
        return {"model": "linear-least-squares", "points": [], "slope": 0.0}
    xs = range(n)
    mean_x, mean_y = (n - 1) / 2, sum(series) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, series, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, series, strict=True)]
    sigma = math.sqrt(sum(r * r for r in residuals) / (n - 2))
    points = []
    for h in range(1, horizon + 1):
        x = n - 1 + h
        yhat = intercept + slope * x
        spread = 1.96 * sigma * math.sqrt(1 + 1 / n + (x - mean_x) ** 2 / sxx)
        points.append({"step": h, "value": round(max(0.0, yhat), 3),
                       "low": round(max(0.0, yhat - spread), 3), "high": round(yhat + spread, 3)})
    return {"model": "linear-least-squares", "slope": round(slope, 4), "points": points}


def author_activity(store: Store, repo_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Authors by number of commits, with their first and last commit times."""
    return store.query_dicts(
        "SELECT author_email AS email, MAX(author_name) AS name, COUNT(*) AS commits, "
        "SUM(lines_added) AS lines_added, SUM(lines_deleted) AS lines_deleted, "
        "MIN(author_time) AS first_commit_at, MAX(author_time) AS last_commit_at "
        "FROM commits WHERE repo_id = ? GROUP BY author_email ORDER BY commits DESC, email LIMIT ?",
        (repo_id, limit))


def category_mix(store: Store, repo_id: int) -> dict[str, int]:
    """Number of commits per category."""
    return {c: int(n) for c, n in store.query(
        "SELECT category, COUNT(*) FROM commits WHERE repo_id = ? GROUP BY category "
        "ORDER BY COUNT(*) DESC", (repo_id,))}


def pattern_summary(store: Store, repo_id: int) -> list[dict[str, Any]]:
    """Each detected pattern: occurrences, commits, first and last seen."""
    return store.query_dicts(
        "SELECT p.pattern, COUNT(*) AS occurrences, COUNT(DISTINCT p.commit_id) AS commits, "
        "MIN(c.author_time) AS first_seen, MAX(c.author_time) AS last_seen "
        "FROM pattern_occurrences p JOIN commits c ON c.id = p.commit_id WHERE p.repo_id = ? "
        "GROUP BY p.pattern ORDER BY occurrences DESC, p.pattern", (repo_id,))

"""The viz service's aggregates: every chart's data, filtered, computed in SQL.

Each `*_view` function takes a store, a repository id and `VizFilters`, and returns a dict
with the chart's data and a `table` ({"columns": [...], "rows": [[...], ...]}) holding the
same numbers, which the pages show and the CSV export writes. Nothing here loads a
repository's commits into Python: each function runs a few GROUP BY queries whose result
size is bounded by weeks, days, directories or a `limit` of files.

Counting follows SPEC §9: file-level numbers (changes, churn, ownership, coupling) come from
file changes of non-merge commits with renames off, line sums skip binary files; commit-level
numbers (activity, calendar) count every commit, merges included, by author date in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .analytics import _WEEK_ORIGIN, MAX_COUPLING_COMMIT_FILES, WEEK, forecast_weekly
from .storage import Store

DAY = 24 * 3600
FORECAST_WEEKS = 8
# The trend is fitted on the most recent weeks: a project's activity twenty years ago says
# little about the next two months.
FORECAST_FIT_WEEKS = 52
AGE_BUCKETS = ((30, "< 1 month"), (91, "1-3 months"), (182, "3-6 months"), (365, "6-12 months"),
               (730, "1-2 years"), (1825, "2-5 years"), (None, "5+ years"))
MIX_SERIES = ("language", "category", "pattern")


class VizInputError(ValueError):
    """A filter or parameter the caller gave is invalid (shown to the user as a 400)."""


@dataclass(frozen=True)
class VizFilters:
    """What every view can be narrowed by: author date range [since, until) in epoch seconds,
    a path prefix, an author email and a commit category. With a path prefix, commit-level
    views count the non-merge commits that changed a file under it (merges have no file
    changes of their own, as in `git log --no-merges -- PREFIX`)."""

    since: int | None = None
    until: int | None = None
    path: str = ""
    author: str = ""
    category: str = ""

    def key(self) -> tuple[Any, ...]:
        """A hashable identity for caching."""
        return (self.since, self.until, self.path, self.author, self.category)

    def commit_clause(self, alias: str = "c") -> tuple[str, list[Any]]:
        """SQL (starting with AND) restricting commits `alias` by date, author and category."""
        sql, params = "", []
        if self.since is not None:
            sql += f" AND {alias}.author_time >= ?"
            params.append(self.since)
        if self.until is not None:
            sql += f" AND {alias}.author_time < ?"
            params.append(self.until)
        if self.author:
            sql += f" AND {alias}.author_email = ?"
            params.append(self.author)
        if self.category:
            sql += f" AND {alias}.category = ?"
            params.append(self.category)
        return sql, params

    def path_clause(self, alias: str = "fc") -> tuple[str, list[Any]]:
        """SQL (starting with AND) keeping file changes `alias` under the path prefix."""
        if not self.path:
            return "", []
        return f" AND substr({alias}.path, 1, {len(self.path)}) = ?", [self.path]


def parse_filters(args: dict[str, str]) -> VizFilters:
    """Filters from query arguments `since`/`until` (YYYY-MM-DD, UTC; `until` inclusive),
    `path`, `author` and `category`. Raises VizInputError naming the bad argument."""
    def day(name: str) -> int | None:
        value = (args.get(name) or "").strip()
        if not value:
            return None
        try:
            parsed = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        except ValueError:
            raise VizInputError(f"{name} must be a date as YYYY-MM-DD, not {value!r}") from None
        return int(parsed.timestamp())

    since, until = day("since"), day("until")
    if until is not None:
        until += DAY
    if since is not None and until is not None and since >= until:
        raise VizInputError("since must be on or before until")
    path = (args.get("path") or "").strip().lstrip("/")
    if len(path) > 1000 or "\0" in path:
        raise VizInputError("path must be a path prefix of at most 1000 characters")
    author = (args.get("author") or "").strip()
    category = (args.get("category") or "").strip()
    from .analysis.classify import CATEGORIES

    if category and category not in CATEGORIES:
        raise VizInputError(f"category must be one of {', '.join(CATEGORIES)}")
    return VizFilters(since, until, path, author, category)


def iso_day(seconds: int | None) -> str | None:
    """The UTC date of epoch `seconds` as YYYY-MM-DD."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).strftime("%Y-%m-%d")


def _commit_filter(store: Store, repo_id: int, f: VizFilters) -> tuple[str, list[Any]]:
    """WHERE body for commits `c`, including 'touched a file under the prefix'."""
    sql, params = f.commit_clause("c")
    where = "c.repo_id = ?" + sql
    params = [repo_id, *params]
    if f.path:
        where += (" AND EXISTS (SELECT 1 FROM file_changes p WHERE p.commit_id = c.id"
                  f" AND substr(p.path, 1, {len(f.path)}) = ?)")
        params.append(f.path)
    return where, params


def _file_filter(repo_id: int, f: VizFilters) -> tuple[str, list[Any]]:
    """WHERE body for file changes `fc` joined to their commits `c`."""
    csql, cparams = f.commit_clause("c")
    psql, pparams = f.path_clause("fc")
    return "fc.repo_id = ?" + csql + psql, [repo_id, *cparams, *pparams]


def _week(column: str) -> str:
    return f"(({column} - {_WEEK_ORIGIN}) / {WEEK})"


def _week_start(week: int) -> int:
    return week * WEEK + _WEEK_ORIGIN


def activity_view(store: Store, repo_id: int, f: VizFilters) -> dict[str, Any]:
    """Commits per Monday-based UTC week, stacked by category, every week from the first to
    the last (empty weeks as zeros), and a linear trend forecast for the next 8 weeks."""
    where, params = _commit_filter(store, repo_id, f)
    rows = store.query(f"SELECT {_week('c.author_time')} AS wk, c.category, COUNT(*) FROM commits c "
                       f"WHERE {where} GROUP BY wk, c.category ORDER BY wk", params)
    by_week: dict[int, dict[str, int]] = {}
    categories: dict[str, int] = {}
    for wk, category, n in rows:
        by_week.setdefault(int(wk), {})[category] = int(n)
        categories[category] = categories.get(category, 0) + int(n)
    order = sorted(categories, key=lambda c: (-categories[c], c))
    weeks = []
    if by_week:
        for wk in range(min(by_week), max(by_week) + 1):
            counts = by_week.get(wk, {})
            weeks.append({"week_start": iso_day(_week_start(wk)), "commits": sum(counts.values()),
                          "by_category": {c: counts.get(c, 0) for c in order}})
    fit = [w["commits"] for w in weeks[-FORECAST_FIT_WEEKS:]]
    model = forecast_weekly([float(x) for x in fit], horizon=FORECAST_WEEKS)
    forecast = []
    if weeks and model["points"]:
        last = max(by_week)
        forecast = [{"week_start": iso_day(_week_start(last + p["step"])), "value": p["value"],
                     "low": p["low"], "high": p["high"]} for p in model["points"]]
    return {
        "weeks": weeks, "categories": order, "forecast": forecast,
        "model": {"name": "ordinary least-squares linear trend", "fitted_weeks": len(fit),
                  "slope_per_week": model["slope"], "band": "95% prediction interval"},
        "table": {"columns": ["week_start", "commits", *order],
                  "rows": [[w["week_start"], w["commits"], *w["by_category"].values()]
                           for w in weeks]},
    }


def churn_view(store: Store, repo_id: int, f: VizFilters) -> dict[str, Any]:
    """Lines added and deleted per week (text files of non-merge commits; weeks whose only
    changes are binary show zeros)."""
    where, params = _file_filter(repo_id, f)
    rows = store.query(
        f"SELECT {_week('c.author_time')} AS wk, SUM(CASE WHEN fc.is_binary = 0 THEN fc.added ELSE 0 END), "
        "SUM(CASE WHEN fc.is_binary = 0 THEN fc.deleted ELSE 0 END), COUNT(*), "
        "COUNT(DISTINCT fc.commit_id) FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        f"WHERE {where} GROUP BY wk ORDER BY wk", params)
    weeks = [{"week_start": iso_day(_week_start(int(wk))), "lines_added": int(a or 0),
              "lines_deleted": int(d or 0), "file_changes": int(n), "commits": int(k)}
             for wk, a, d, n, k in rows]
    cols = ["week_start", "lines_added", "lines_deleted", "file_changes", "commits"]
    return {"weeks": weeks, "lines_added": sum(w["lines_added"] for w in weeks),
            "lines_deleted": sum(w["lines_deleted"] for w in weeks),
            "table": {"columns": cols, "rows": [[w[c] for c in cols] for w in weeks]}}


def hotspots_view(store: Store, repo_id: int, f: VizFilters, limit: int = 200) -> dict[str, Any]:
    """The `limit` most changed files (changes = non-merge commits touching them, churn = lines
    added + deleted), as a directory tree for a treemap; score = changes x churn share."""
    where, params = _file_filter(repo_id, f)
    order = 'fc.path COLLATE "C"' if store.dialect == "postgres" else "fc.path"
    rows = store.query(
        "SELECT fc.path, COUNT(*) AS n, SUM(CASE WHEN fc.is_binary = 0 THEN fc.added + fc.deleted "
        "ELSE 0 END), MAX(c.author_time) FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        f"WHERE {where} GROUP BY fc.path ORDER BY n DESC, {order} LIMIT ?", [*params, limit])
    files = [{"path": p, "changes": int(n), "churn": int(ch or 0), "last_change": iso_day(t)}
             for p, n, ch, t in rows]
    root: dict[str, Any] = {"name": f.path or "/", "children": []}
    for file in files:
        node = root
        parts = file["path"].split("/")
        for part in parts[:-1]:
            child = next((c for c in node["children"] if c["name"] == part and "children" in c), None)
            if child is None:
                child = {"name": part, "children": []}
                node["children"].append(child)
            node = child
        node["children"].append({"name": parts[-1], **file})
    cols = ["path", "changes", "churn", "last_change"]
    return {"tree": root, "files": files,
            "table": {"columns": cols, "rows": [[x[c] for c in cols] for x in files]}}


def _instr(store: Store) -> str:
    return "strpos" if store.dialect == "postgres" else "instr"


def ownership_view(store: Store, repo_id: int, f: VizFilters) -> dict[str, Any]:
    """Per directory directly under the path prefix: churn by author, the main owner and the
    bus factor (fewest authors who together wrote more than half of the churn)."""
    where, params = _file_filter(repo_id, f)
    start = len(f.path) + 1
    rest = f"substr(fc.path, {start})"
    directory = (f"CASE WHEN {_instr(store)}({rest}, '/') > 0 "
                 f"THEN substr({rest}, 1, {_instr(store)}({rest}, '/')) ELSE '(files)' END")
    rows = store.query(
        f"SELECT {directory} AS dir, c.author_email, MAX(c.author_name), "
        "SUM(fc.added + fc.deleted) AS churn, COUNT(DISTINCT fc.commit_id) "
        f"FROM file_changes fc JOIN commits c ON c.id = fc.commit_id WHERE {where} "
        "AND fc.is_binary = 0 GROUP BY dir, c.author_email ORDER BY dir, churn DESC, c.author_email",
        params)
    dirs: dict[str, list[tuple[str, str, int, int]]] = {}
    for d, email, name, churn, commits in rows:
        dirs.setdefault(d, []).append((email, name, int(churn or 0), int(commits)))
    out = []
    for d, authors in dirs.items():
        total = sum(a[2] for a in authors)
        running = bus = 0
        for _, _, churn, _ in authors:
            if running * 2 <= total:
                bus += 1
            running += churn
        top = authors[0]
        out.append({"directory": f.path + d if d != "(files)" else (f.path or "") + "(files)",
                    "churn": total, "authors": len(authors), "bus_factor": bus if total else 0,
                    "owner": top[1], "owner_email": top[0],
                    "owner_share": round(top[2] / total, 4) if total else 0.0,
                    "owners": [{"name": n, "email": e, "churn": c, "commits": k,
                                "share": round(c / total, 4) if total else 0.0}
                               for e, n, c, k in authors[:8]]})
    out.sort(key=lambda x: (-x["churn"], x["directory"]))
    cols = ["directory", "churn", "authors", "bus_factor", "owner", "owner_email", "owner_share"]
    return {"directories": out,
            "table": {"columns": cols, "rows": [[x[c] for c in cols] for x in out]}}


def coupling_view(store: Store, repo_id: int, f: VizFilters, files: int = 25,
                  min_support: int = 2) -> dict[str, Any]:
    """Temporal coupling among the `files` most changed files: for each pair, support (commits
    changing both) and confidence both ways (support / commits changing each). Commits touching
    more than MAX_COUPLING_COMMIT_FILES files are left out, as in `ades.analytics.co_changes`."""
    where, params = _file_filter(repo_id, f)
    order = 'fc.path COLLATE "C"' if store.dialect == "postgres" else "fc.path"
    top = store.query(
        "SELECT fc.path, COUNT(*) AS n FROM file_changes fc JOIN commits c ON c.id = fc.commit_id "
        f"WHERE {where} AND c.files_changed <= ? GROUP BY fc.path ORDER BY n DESC, {order} LIMIT ?",
        [*params, MAX_COUPLING_COMMIT_FILES, files])
    counts = {p: int(n) for p, n in top}
    pairs = []
    if len(counts) > 1:
        after = ('o.path COLLATE "C" > fc.path COLLATE "C"' if store.dialect == "postgres"
                 else "o.path > fc.path")
        marks = ",".join("?" * len(counts))
        rows = store.query(
            "SELECT fc.path, o.path, COUNT(*) FROM file_changes fc "
            "JOIN commits c ON c.id = fc.commit_id "
            f"JOIN file_changes o ON o.commit_id = fc.commit_id AND {after} "
            f"WHERE {where} AND c.files_changed <= ? AND fc.path IN ({marks}) AND o.path IN ({marks}) "
            "GROUP BY fc.path, o.path HAVING COUNT(*) >= ?",
            [*params, MAX_COUPLING_COMMIT_FILES, *counts, *counts, min_support])
        for a, b, s in rows:
            s = int(s)
            pairs.append({"a": a, "b": b, "support": s,
                          "confidence_a_to_b": round(s / counts[a], 4),
                          "confidence_b_to_a": round(s / counts[b], 4)})
    pairs.sort(key=lambda x: (-x["support"], x["a"], x["b"]))
    cols = ["a", "b", "support", "confidence_a_to_b", "confidence_b_to_a"]
    return {"files": [{"path": p, "changes": n} for p, n in counts.items()], "pairs": pairs,
            "table": {"columns": cols, "rows": [[x[c] for c in cols] for x in pairs]}}


def code_age_view(store: Store, repo_id: int, f: VizFilters, limit: int = 1000) -> dict[str, Any]:
    """Files alive at the end of the range with the date of their last change and its age in
    days, measured from the newest commit in range (not the wall clock, so it does not drift);
    a histogram of ages in AGE_BUCKETS."""
    where, params = _file_filter(repo_id, f)
    rows = store.query(
        "SELECT path, t, change_type FROM (SELECT fc.path AS path, c.author_time AS t, "
        "fc.change_type AS change_type, ROW_NUMBER() OVER (PARTITION BY fc.path "
        "ORDER BY c.commit_time DESC, c.id DESC) AS r FROM file_changes fc "
        f"JOIN commits c ON c.id = fc.commit_id WHERE {where}) latest "
        "WHERE r = 1 AND change_type <> 'D'", params)
    cwhere, cparams = _commit_filter(store, repo_id, VizFilters(f.since, f.until))
    newest = store.query_one(f"SELECT MAX(c.author_time) FROM commits c WHERE {cwhere}", cparams)[0]
    files = sorted(({"path": p, "last_change": iso_day(t),
                     "age_days": max(0, (int(newest) - int(t)) // DAY) if newest else 0}
                    for p, t, _ in rows), key=lambda x: (-x["age_days"], x["path"]))
    buckets = []
    for i, (upper, label) in enumerate(AGE_BUCKETS):
        lower = AGE_BUCKETS[i - 1][0] if i else 0
        n = sum(1 for x in files if x["age_days"] >= lower and (upper is None or x["age_days"] < upper))
        buckets.append({"bucket": label, "files": n})
    cols = ["path", "last_change", "age_days"]
    return {"reference_day": iso_day(newest), "live_files": len(files), "buckets": buckets,
            "table": {"columns": cols, "rows": [[x[c] for c in cols] for x in files[:limit]]}}


def _month(store: Store, column: str) -> str:
    if store.dialect == "postgres":
        return f"to_char(to_timestamp({column}) AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"strftime('%Y-%m', {column}, 'unixepoch')"


def mix_view(store: Store, repo_id: int, f: VizFilters, series: str = "language",
             top: int = 8) -> dict[str, Any]:
    """Per UTC month, the mix of `series`: file changes per language, commits per category, or
    pattern occurrences per pattern. The `top` largest keep their name, the rest are 'other'."""
    if series not in MIX_SERIES:
        raise VizInputError(f"series must be one of {', '.join(MIX_SERIES)}")
    month = _month(store, "c.author_time")
    if series == "language":
        where, params = _file_filter(repo_id, f)
        sql = (f"SELECT {month} AS m, fc.language, COUNT(*) FROM file_changes fc "
               f"JOIN commits c ON c.id = fc.commit_id WHERE {where} GROUP BY m, fc.language")
    elif series == "category":
        where, params = _commit_filter(store, repo_id, f)
        sql = f"SELECT {month} AS m, c.category, COUNT(*) FROM commits c WHERE {where} GROUP BY m, c.category"
    else:
        csql, cparams = f.commit_clause("c")
        psql, pparams = f.path_clause("po")
        where, params = "po.repo_id = ?" + csql + psql, [repo_id, *cparams, *pparams]
        sql = (f"SELECT {month} AS m, po.pattern, COUNT(*) FROM pattern_occurrences po "
               f"JOIN commits c ON c.id = po.commit_id WHERE {where} GROUP BY m, po.pattern")
    rows = [(m, k or "unknown", int(n)) for m, k, n in store.query(sql, params)]
    totals: dict[str, int] = {}
    for _, k, n in rows:
        totals[k] = totals.get(k, 0) + n
    keep = sorted(totals, key=lambda k: (-totals[k], k))[:top]
    names = keep + (["other"] if len(totals) > len(keep) else [])
    months: dict[str, dict[str, int]] = {}
    for m, k, n in rows:
        bucket = months.setdefault(m, dict.fromkeys(names, 0))
        bucket[k if k in keep else "other"] += n
    ordered = [{"month": m, "counts": months[m]} for m in sorted(months)]
    return {"series": series, "names": names, "months": ordered,
            "table": {"columns": ["month", *names],
                      "rows": [[x["month"], *x["counts"].values()] for x in ordered]}}


def calendar_view(store: Store, repo_id: int, f: VizFilters) -> dict[str, Any]:
    """Commits per UTC day (days with none omitted) and the most active authors in range."""
    where, params = _commit_filter(store, repo_id, f)
    days = [{"day": iso_day(int(d) * DAY), "commits": int(n)} for d, n in store.query(
        f"SELECT c.author_time / {DAY} AS d, COUNT(*) FROM commits c WHERE {where} "
        "GROUP BY d ORDER BY d", params)]
    authors = store.query_dicts(
        "SELECT c.author_email AS email, MAX(c.author_name) AS name, COUNT(*) AS commits "
        f"FROM commits c WHERE {where} GROUP BY c.author_email ORDER BY commits DESC, email LIMIT 10",
        params)
    return {"days": days, "authors": authors,
            "table": {"columns": ["day", "commits"], "rows": [[d["day"], d["commits"]] for d in days]}}


VIEWS = {
    "activity": activity_view,
    "churn": churn_view,
    "hotspots": hotspots_view,
    "ownership": ownership_view,
    "coupling": coupling_view,
    "code-age": code_age_view,
    "mix": mix_view,
    "calendar": calendar_view,
}

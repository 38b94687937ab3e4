"""Ranked full-text search over experiences, with filters and match explanations.

One API over two engines: FTS5 with bm25 on SQLite, a weighted tsvector with a GIN index and
ts_rank_cd on PostgreSQL (in the narrow `experience_search` table). Commit trailer lines
(Signed-off-by: ...) are not indexed. Queries are reduced to plain words before they reach either
engine, so no user input is ever interpreted as query syntax. All words must match; when
that finds nothing, any word may match (and the result says so).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .storage import Store

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 12
# bm25 column weights: title, message, paths, functions, patterns, tags.
_BM25 = "bm25(experience_fts, 10.0, 3.0, 2.0, 2.0, 4.0, 4.0)"
_FIELDS = ("title", "message", "paths", "functions", "patterns", "tags")


class SearchError(ValueError):
    """The search request is invalid (empty query, bad filter); the message says why."""


@dataclass
class SearchFilters:
    """Optional restrictions on which experiences a search may return."""

    repo: str | None = None
    category: str | None = None
    language: str | None = None
    author: str | None = None
    path_prefix: str | None = None
    since: int | None = None
    until: int | None = None


@dataclass
class SearchResult:
    """One matching experience, why it matched, and where it comes from."""

    commit: str
    score: float
    title: str
    repository: str
    category: str
    author: str
    author_email: str
    date: int
    problem: str
    solution: str
    languages: list[str]
    tags: list[str]
    patterns: list[str]
    snippet: str
    matched: dict[str, list[str]] = field(default_factory=dict)
    why: str = ""
    match_mode: str = "all"
    links: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (shallow: its lists and dicts are the result's own)."""
        # dataclasses.asdict deep-copies every list and dict: a third of the Python time of
        # an uncached search request.
        return dict(vars(self))


def query_words(text: str) -> list[str]:
    """The words of a query as the engines will see them (lowercased, bounded)."""
    return [w.lower() for w in _WORD.findall(text or "")][:MAX_QUERY_WORDS]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filter_sql(filters: SearchFilters, narrow: bool = False) -> tuple[str, list[Any]]:
    """WHERE clauses for `filters` over experiences `e` joined with repositories `r`, or, when
    `narrow`, over PostgreSQL's search table `s` (repository, category and dates) and `e`."""
    clauses, params = [], []
    own = "s" if narrow else "e"
    if filters.repo:
        clauses.append("s.repo_id = (SELECT id FROM repositories WHERE name = ?)" if narrow
                       else "r.name = ?")
        params.append(filters.repo)
    if filters.category:
        clauses.append(f"{own}.category = ?")
        params.append(filters.category)
    if filters.language:
        clauses.append("(',' || e.languages || ',') LIKE ? ESCAPE '\\'")
        params.append(f"%,{_escape_like(filters.language.lower())},%")
    if filters.author:
        clauses.append("(LOWER(e.author_email) = ? OR LOWER(e.author_name) LIKE ? ESCAPE '\\')")
        params += [filters.author.lower(), f"%{_escape_like(filters.author.lower())}%"]
    if filters.path_prefix:
        clauses.append("EXISTS (SELECT 1 FROM file_changes fc WHERE fc.commit_id = e.commit_id "
                       "AND fc.path LIKE ? ESCAPE '\\')")
        params.append(_escape_like(filters.path_prefix) + "%")
    if filters.since is not None:
        clauses.append(f"{own}.authored_at >= ?")
        params.append(int(filters.since))
    if filters.until is not None:
        clauses.append(f"{own}.authored_at <= ?")
        params.append(int(filters.until))
    return "".join(f" AND {c}" for c in clauses), params


def _needs_experiences(filters: SearchFilters) -> bool:
    """Whether a filter reads columns that only the wide experiences table has."""
    return bool(filters.language or filters.author or filters.path_prefix)


_SELECT = ("SELECT c.hash, {score}, e.title, r.name, e.category, e.author_name, e.author_email, "
           "e.authored_at, e.problem, e.solution, e.languages, e.tags, e.patterns, e.message, "
           "e.paths, e.functions, e.links ")


def _run(store: Store, words: list[str], mode: str, filters: SearchFilters, limit: int,
         offset: int) -> list[tuple]:
    if store.dialect == "sqlite":
        where, params = _filter_sql(filters)
        joiner = " AND " if mode == "all" else " OR "
        match = joiner.join(f'"{w}"' for w in words)
        sql = (_SELECT.format(score=f"-{_BM25}") +
               "FROM experience_fts JOIN experiences e ON e.id = experience_fts.rowid "
               "JOIN repositories r ON r.id = e.repo_id JOIN commits c ON c.id = e.commit_id "
               f"WHERE experience_fts MATCH ?{where} ORDER BY {_BM25} LIMIT ? OFFSET ?")
        return store.query(sql, [match, *params, limit, offset])
    where, params = _filter_sql(filters, narrow=True)
    lists, list_params = "", []
    if mode == "all" and _may_use_impacts(filters):
        lists, list_params = _impacts_page(filters, limit, offset)
        where += " AND NOT EXISTS (SELECT 1 FROM lists)"
    joiner = " " if mode == "all" else " or "
    wide = " JOIN experiences e ON e.id = s.experience_id" if _needs_experiences(filters) else ""
    # Rank the matches in the narrow search table and join the wide columns and the commit
    # for the page of results only: a common word matches tens of thousands of rows. `q` stays
    # inlined when `lists` uses it too: materialized, it would hide the query from the planner.
    sql = ("WITH q AS NOT MATERIALIZED (SELECT websearch_to_tsquery('english', ?) AS query), " +
           lists +
           "ranked AS (SELECT s.experience_id AS id, ts_rank_cd(s.vector, q.query, 1) AS score, "
           f"s.authored_at FROM q, experience_search s{wide} "
           f"WHERE s.vector @@ q.query{where} "
           "ORDER BY score DESC, s.authored_at DESC, s.experience_id LIMIT ? OFFSET ?) " +
           _SELECT.format(score="top.score") +
           f"FROM ({'SELECT * FROM lists UNION ALL ' if lists else ''}SELECT * FROM ranked) top "
           "JOIN experiences e ON e.id = top.id JOIN repositories r ON r.id = e.repo_id "
           "JOIN commits c ON c.id = e.commit_id "
           "ORDER BY top.score DESC, top.authored_at DESC, top.id")
    return store.query(sql, [joiner.join(words), *list_params, *params, limit, offset])


def _may_use_impacts(filters: SearchFilters) -> bool:
    """Whether a search with these filters may be answered from impact lists: they hold each
    repository's best experiences for a word, so no filter but the repository is possible."""
    return filters == SearchFilters(repo=filters.repo)


# The one lexeme of a tsquery that is a lexeme or that lexeme ANDed with itself ("add add"),
# as a PostgreSQL regular expression whose first group is the lexeme.
_ONE_LEXEME = r"^'([^'\\]+)'( & '\1')*$"


def _impacts_page(filters: SearchFilters, limit: int, offset: int) -> tuple[str, list[Any]]:
    """The `lists` CTE of `_run`: the page from the impact lists (`ades.storage.search_impacts`)
    when the query `q` is one heavy lexeme and the page lies within the lists' depth, else
    no rows. `_run` ranks the GIN matches only when `lists` is empty (also when the
    repository's list lacks the word).

    It is part of `_run`'s statement rather than a check and a page of its own: each round
    trip costs a request a gevent yield and a wait for its worker. PostgreSQL still runs only
    one branch: the depth test is a one-time filter and the list is read only for the
    heavy lexeme found (none, when the query is not one), while `lists`, referenced twice,
    is materialized once and NOT EXISTS over it is a one-time filter on the GIN ranking.
    """
    repo = "AND i.repo_id = (SELECT id FROM repositories WHERE name = ?) " if filters.repo else ""
    sql = ("lists AS (SELECT page.* FROM q "
           "JOIN search_heavy_lexemes h ON h.lexeme = substring(q.query::text from ?) "
           "CROSS JOIN LATERAL (SELECT i.experience_id AS id, i.score, i.authored_at "
           f"FROM search_impacts i WHERE i.lexeme = h.lexeme {repo}"
           "ORDER BY i.score DESC, i.authored_at DESC, i.experience_id LIMIT ? OFFSET ?) page "
           "WHERE (SELECT depth FROM search_impact_builds) >= ?), ")
    return sql, [_ONE_LEXEME, *([filters.repo] if filters.repo else []), limit, offset,
                 offset + limit]


def _stem(word: str) -> str:
    return word[: max(4, len(word) - 2)] if len(word) > 4 else word


def _word_starts(words: list[str]) -> list[tuple[str, re.Pattern[str] | None]]:
    """Per query word, a pattern that finds a token starting with the word's stem.

    Tokens are runs of letters and digits (`_` separates them, so `retry_with_backoff` holds
    `backoff`); a stem with `_` in it can start no token.
    """
    return [(w, None if "_" in _stem(w) else re.compile(r"(?<![^\W_])" + re.escape(_stem(w))))
            for w in words]


def _explain(starts: list[tuple[str, re.Pattern[str] | None]],
             texts: dict[str, str]) -> dict[str, list[str]]:
    """Which query words each field holds (as the start of one of its tokens, stemmed)."""
    matched: dict[str, list[str]] = {}
    for name, text in texts.items():
        lower = text.lower()
        hits = [w for w, pattern in starts if pattern is not None and pattern.search(lower)]
        if hits:
            matched[name] = hits
    return matched


def _snippet(message: str, words: list[str], width: int = 160) -> str:
    lower = message.lower()
    positions = [lower.find(_stem(w)) for w in words]
    positions = [p for p in positions if p >= 0]
    start = max(0, min(positions) - width // 3) if positions else 0
    text = " ".join(message[start:start + width].split())
    return ("…" if start else "") + text + ("…" if start + width < len(message) else "")


def search_experiences(store: Store, query: str, filters: SearchFilters | None = None, *,
                       limit: int = 10, offset: int = 0) -> list[SearchResult]:
    """Experiences matching `query`, best first, each explaining which fields matched."""
    words = query_words(query)
    if not words:
        raise SearchError("the query has no words to search for")
    if not 1 <= limit <= 100:
        raise SearchError("limit must be between 1 and 100")
    if offset < 0:
        raise SearchError("offset must not be negative")
    filters = filters or SearchFilters()
    mode = "all"
    rows = _run(store, words, mode, filters, limit, offset)
    if not rows and len(words) > 1 and offset == 0:
        mode = "any"
        rows = _run(store, words, mode, filters, limit, offset)
    results = []
    starts = _word_starts(words)
    for (hash_, score, title, repo, category, author, email, date, problem, solution, languages,
         tags, patterns, message, paths, functions, links) in rows:
        matched = _explain(starts, {"title": title, "message": message, "paths": paths,
                                   "functions": functions, "patterns": patterns, "tags": tags})
        why = "; ".join(f"{name}: {', '.join(hits)}" for name, hits in matched.items())
        results.append(SearchResult(
            commit=hash_, score=round(float(score), 4), title=title, repository=repo,
            category=category, author=author, author_email=email, date=date, problem=problem,
            solution=solution, languages=[x for x in languages.split(",") if x],
            tags=[x for x in tags.split(",") if x], patterns=[x for x in patterns.split(",") if x],
            snippet=_snippet(message, words), matched=matched,
            why=(why or "stemmed match") + ("" if mode == "all" else " (matched some words)"),
            match_mode=mode, links=json.loads(links)))
    return results

"""Past changes similar to a snippet of code or a description, and single experiences."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from ..analysis.languages import language_for_path
from ..analysis.patterns import detect_patterns
from ..search import MAX_QUERY_WORDS, SearchError, SearchFilters, search_experiences
from ..storage import Store
from ..storage.repositories import Repository
from .errors import AssistError

MAX_TEXT_CHARS = 20_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Words every snippet has, whatever it does: keywords of the common languages and glue.
_NOISE_WORDS = """
    a an and are as at be but by def do else elif end for from func function if import in
    int is it let long new nil none not null of on or package pass private protected public
    return self static struct the this to true false try type var void while with char const
    unsigned size_t string str bool dict list class extends implements interface include
    define ifdef ifndef endif goto break continue case switch default final async await
    yield lambda print println fmt err ret val that when what how we our into use using
"""
_NOISE = frozenset(_NOISE_WORDS.split())


def query_from_text(text: str) -> str:
    """The words of a snippet or description that say what it does, most telling first.

    Identifiers are split (`retryWithBackoff` -> retry, with, backoff), keywords dropped,
    and the most frequent remaining words kept, up to the search's word limit.
    """
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for identifier in _IDENTIFIER.findall(text):
        for part in [identifier, *_CAMEL.findall(identifier)] if "_" not in identifier else [
                identifier, *identifier.split("_")]:
            word = part.lower()
            if len(word) < 3 or word in _NOISE or word.isdigit():
                continue
            counts[word] += 1
            first_seen.setdefault(word, len(first_seen))
    ranked = sorted(counts, key=lambda w: (-counts[w], first_seen[w]))
    return " ".join(ranked[:MAX_QUERY_WORDS])


def similar_changes(store: Store, repo: Repository | None, text: Any, *, path: Any = None,
                    limit: int = 10) -> dict[str, Any]:
    """Past changes that did something like `text` (code or a description), best first.

    With `path` (or a language the snippet's patterns reveal), experiences that added
    the same code patterns are ranked in too. Raises AssistError for empty or oversized
    text, or a text with nothing searchable.
    """
    if not isinstance(text, str) or not text.strip():
        raise AssistError("text must be a non-empty snippet or description")
    if len(text) > MAX_TEXT_CHARS:
        raise AssistError(f"text is longer than {MAX_TEXT_CHARS} characters")
    if path is not None and not isinstance(path, str):
        raise AssistError("path must be a string")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
        raise AssistError("limit must be an integer from 1 to 50")
    query = query_from_text(text)
    patterns = sorted({m.pattern for m in detect_patterns(path or "", language_for_path(path or ""),
                                                          text)}) if path else []
    if not query and not patterns:
        raise AssistError("the text has no words to search for")
    filters = SearchFilters(repo=repo.name if repo else None)
    results: dict[str, dict[str, Any]] = {}
    if query:
        try:
            for found in search_experiences(store, query, filters, limit=limit):
                results[found.commit] = {**found.to_dict(), "similarity": "words"}
        except SearchError as exc:
            raise AssistError(str(exc)) from exc
    if patterns:
        marks = ",".join("?" * len(patterns))
        where = " AND p.repo_id = ?" if repo else ""
        rows = store.query_dicts(
            "SELECT DISTINCT c.hash AS \"commit\", e.title, r.name AS repository, e.category, "
            "e.author_name AS author, e.authored_at AS date, p.pattern, p.snippet "
            "FROM pattern_occurrences p JOIN commits c ON c.id = p.commit_id "
            "JOIN experiences e ON e.commit_id = c.id JOIN repositories r ON r.id = p.repo_id "
            f"WHERE p.pattern IN ({marks}){where} ORDER BY e.authored_at DESC LIMIT ?",
            [*patterns, *([repo.id] if repo else []), limit])
        for row in rows:
            entry = results.setdefault(row["commit"], {**row, "similarity": "pattern"})
            if entry.get("similarity") == "words":
                entry["similarity"] = "words+pattern"
    return {"query": query, "patterns": patterns, "results": list(results.values())[:limit]}


def experience_detail(store: Store, repo: Repository, commit: Any) -> dict[str, Any] | None:
    """The experience of `commit` (a full hash or a unique prefix of 7+ characters) in
    `repo`, with its files; None when there is none."""
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise AssistError("commit must be 7 to 40 lowercase hex characters")
    rows = store.query_dicts(
        "SELECT c.id, c.hash AS \"commit\", e.title, e.problem, e.solution, e.category, e.languages, "
        "e.tags, e.patterns, e.author_name AS author, e.author_email, e.authored_at AS date, "
        "e.links, e.message FROM commits c JOIN experiences e ON e.commit_id = c.id "
        "WHERE c.repo_id = ? AND c.hash >= ? AND c.hash <= ? ORDER BY c.hash LIMIT 2",
        (repo.id, commit, commit + "g"))
    if len(rows) != 1:
        return None
    row = rows[0]
    files = store.query_dicts(
        "SELECT path, change_type, added, deleted FROM file_changes WHERE commit_id = ? "
        "ORDER BY path", (row.pop("id"),))
    for key in ("languages", "tags", "patterns"):
        row[key] = [x for x in row[key].split(",") if x]
    row["links"] = json.loads(row["links"])
    return {"repository": repo.name, **row, "files": files}

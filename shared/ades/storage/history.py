"""Writing and pruning mined history: commits and everything hanging off them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from . import search_impacts
from .base import Store, Transaction

if TYPE_CHECKING:
    from ..analysis.pipeline import AnalysedCommit

# Bounds on the text kept per experience for display and indexing.
_MAX_PATHS_TEXT = 20_000
_MAX_FUNCTIONS = 200
# Trailer lines are not searched (names and addresses in nearly every commit of some
# projects); PostgreSQL's ades_search_vector (migration 0006) drops the same lines.
_TRAILER = re.compile(r"^(?:[A-Za-z][A-Za-z-]*-by|Cc): .*$", re.MULTILINE)

_COMMIT_COLUMNS = ("id", "repo_id", "hash", "parents", "author_name", "author_email",
                   "author_time", "committer_name", "committer_email", "commit_time", "subject",
                   "body", "is_merge", "category", "confidence", "files_changed", "lines_added",
                   "lines_deleted")
_FILE_COLUMNS = ("commit_id", "repo_id", "path", "old_path", "change_type", "added", "deleted",
                 "is_binary", "language", "skip_reason")
_HUNK_COLUMNS = ("commit_id", "path", "old_start", "old_lines", "new_start", "new_lines",
                 "function")
_PATTERN_COLUMNS = ("commit_id", "repo_id", "pattern", "path", "line", "snippet")
_EXPERIENCE_COLUMNS = ("repo_id", "commit_id", "title", "problem", "solution", "category",
                       "languages", "tags", "patterns", "paths", "functions", "size",
                       "author_name", "author_email", "authored_at", "links", "message")


def stored_hashes(store: Store, repo_id: int) -> set[str]:
    """Hashes of every commit of the repository already in the database."""
    return {row[0] for row in store.query("SELECT hash FROM commits WHERE repo_id = ?", (repo_id,))}


def searchable_message(message: str) -> str:
    """The part of a commit message that search indexes: all but its trailer lines."""
    return _TRAILER.sub("", message)


def _bounded_join(items: Iterable[str], limit: int) -> str:
    out, size = [], 0
    for item in items:
        size += len(item) + 1
        if size > limit:
            break
        out.append(item)
    return "\n".join(out)


def write_commits(store: Store, repo_id: int, batch: Sequence[AnalysedCommit]) -> None:
    """Store a batch of analysed commits atomically: all of it or none of it."""
    if not batch:
        return
    with store.transaction() as tx:
        ids = tx.allocate_ids("commits", len(batch))
        commits, files, hunks, patterns, experiences, fts = [], [], [], [], [], []
        for commit_id, item in zip(ids, batch, strict=True):
            c = item.commit
            counted = c.files  # merges carry no patch, so their files list is empty
            commits.append((
                commit_id, repo_id, c.hash, " ".join(c.parents), c.author_name, c.author_email,
                c.author_time, c.committer_name, c.committer_email, c.commit_time, c.subject,
                c.body, int(c.is_merge), item.classification.category,
                round(item.classification.confidence, 4), len(counted),
                sum(f.added for f in counted), sum(f.deleted for f in counted)))
            for f in counted:
                files.append((commit_id, repo_id, f.path, f.old_path, f.change_type, f.added,
                              f.deleted, int(f.is_binary), f.language, f.skip_reason))
                for h in f.hunks:
                    hunks.append((commit_id, f.path, h.old_start, h.old_lines, h.new_start,
                                  h.new_lines, h.function))
            for p in item.patterns:
                patterns.append((commit_id, repo_id, p.pattern, p.path, p.line, p.snippet))
            e = item.experience
            if e is not None:
                paths = _bounded_join((f.path for f in counted), _MAX_PATHS_TEXT)
                functions = _bounded_join(
                    dict.fromkeys(h.function for f in counted for h in f.hunks if h.function),
                    _MAX_PATHS_TEXT)
                functions = "\n".join(functions.split("\n")[:_MAX_FUNCTIONS])
                experiences.append((
                    repo_id, commit_id, e.title, e.problem, e.solution, e.category,
                    ",".join(e.languages), ",".join(e.tags), ",".join(e.patterns), paths,
                    functions, e.size, c.author_name, c.author_email, c.author_time,
                    json.dumps(e.links, sort_keys=True), c.message))
        tx.bulk_insert("commits", _COMMIT_COLUMNS, commits)
        tx.bulk_insert("file_changes", _FILE_COLUMNS, files)
        tx.bulk_insert("hunks", _HUNK_COLUMNS, hunks)
        tx.bulk_insert("pattern_occurrences", _PATTERN_COLUMNS, patterns)
        exp_ids = tx.allocate_ids("experiences", len(experiences))
        tx.bulk_insert("experiences", ("id", *_EXPERIENCE_COLUMNS),
                       [(i, *row) for i, row in zip(exp_ids, experiences, strict=True)])
        if store.dialect == "sqlite":
            for i, row in zip(exp_ids, experiences, strict=True):
                # title, message, paths, functions, patterns, tags
                fts.append((i, row[2], searchable_message(row[16]), row[9], row[10],
                            row[8].replace(",", " "), row[7].replace(",", " ")))
            tx.bulk_insert("experience_fts",
                           ("rowid", "title", "message", "paths", "functions", "patterns", "tags"),
                           fts)
        elif exp_ids:
            tx.execute("INSERT INTO experience_search (experience_id, repo_id, authored_at, category, "
                       "vector) SELECT id, repo_id, authored_at, category, ades_search_vector("
                       "title, message, patterns, tags, paths, functions) FROM experiences "
                       "WHERE id = ANY(?)", (exp_ids,))
            search_impacts.add_postings(tx, exp_ids)


def delete_commit_rows(tx: Transaction, repo_id: int, hashes: Sequence[str] | None) -> int:
    """Delete the given commits of a repository (all when `hashes` is None) with their rows."""
    if hashes is None:
        chunks = [None]
    else:
        chunks = [list(hashes[i:i + 500]) for i in range(0, len(hashes), 500)]
    if hashes is not None:
        # Deleting some experiences may let others into a word's best: the repository's
        # impact lists are rebuilt below, under a lock taken before any row goes.
        search_impacts.lock_for_rebuild(tx)
    else:
        search_impacts.lock_for_writes(tx)
    deleted = 0
    for chunk in chunks:
        if chunk is None:
            where, params = "repo_id = ?", [repo_id]
        elif not chunk:
            continue
        else:
            where = f"repo_id = ? AND hash IN ({','.join('?' * len(chunk))})"
            params = [repo_id, *chunk]
        if tx.store.dialect == "sqlite":
            tx.execute("DELETE FROM experience_fts WHERE rowid IN (SELECT e.id FROM experiences e "
                       f"WHERE e.commit_id IN (SELECT id FROM commits WHERE {where}))", params)
        deleted += tx.execute(f"DELETE FROM commits WHERE {where}", params).rowcount
    if hashes is not None and deleted and tx.store.dialect == "postgres":
        search_impacts.rebuild_repository(tx, repo_id)
    return deleted


def prune_commits(store: Store, repo_id: int, hashes: Sequence[str]) -> int:
    """Remove commits that are no longer reachable (history was rewritten)."""
    with store.transaction() as tx:
        return delete_commit_rows(tx, repo_id, hashes)

"""`/api/repositories/<name>/commits`: the stored commits, and one commit with its files,
hunks, experience and diff."""

from __future__ import annotations

import logging
from typing import Any

from ades.hardening import requires
from ades.mining.diffs import DiffUnavailable, UnknownCommit, commit_patch
from ades.mining.gitrepo import RepositoryError, run_git
from ades.optimizer import cached
from ades.service import get_store, operation
from flask import Blueprint, Response, jsonify, request

from .api_common import HASH_PATTERN, ApiError, int_arg, limit_arg, repository_or_404

log = logging.getLogger(__name__)
bp = Blueprint("api_commits", __name__, url_prefix="/api/repositories/<name>/commits")

_COMMIT_COLUMNS = ("c.hash, c.parents, c.author_name, c.author_email, c.author_time, c.subject, "
                   "c.category, c.confidence, c.files_changed, c.lines_added, c.lines_deleted, "
                   "c.is_merge")
MAX_DIFF_BYTES = 512 * 1024


def list_commits(repo_id: int, *, limit: int, offset: int, category: str | None = None,
                 author: str | None = None) -> list[dict[str, Any]]:
    """Stored commits of a repository, newest first, optionally of one category or author."""
    where, params = ["c.repo_id = ?"], [repo_id]
    if category:
        where.append("c.category = ?")
        params.append(category)
    if author:
        where.append("(c.author_email = ? OR c.author_name = ?)")
        params += [author, author]
    rows = get_store().query_dicts(
        f"SELECT {_COMMIT_COLUMNS} FROM commits c WHERE {' AND '.join(where)} "
        "ORDER BY c.author_time DESC, c.id DESC LIMIT ? OFFSET ?", (*params, limit, offset))
    for row in rows:
        row["is_merge"] = bool(row["is_merge"])
        row["parents"] = row["parents"].split()
    return rows


@bp.get("")
@requires("viewer")
@operation(query={"limit": "1-100 (default 20)", "offset": "skip this many",
                  "category": "only this category", "author": "author e-mail or name"})
def index(name: str) -> Response:
    """The repository's commits, newest first."""
    repo = repository_or_404(name)
    limit, offset = limit_arg(), int_arg("offset", 0, low=0, high=10_000_000)
    rows = list_commits(repo.id, limit=limit, offset=offset,
                        category=request.args.get("category") or None,
                        author=request.args.get("author") or None)
    return jsonify({"commits": rows, "next_offset": offset + limit if len(rows) == limit else None})


class _NoSuchHash(LookupError):
    """No stored commit has exactly this hash (it may still be a prefix of a longer one)."""


def commit_detail(repo, ref: str, *, with_diff: bool = True) -> dict[str, Any]:
    """One stored commit (full hash or a unique prefix): files, hunks, experience, diff.

    The answer is cached per full hash until the repository's next ingest: a commit's rows
    and diff never change, and only an ingest that follows rewritten history deletes them.
    The value is shared with other workers, so callers must not modify it.
    """
    if not HASH_PATTERN.fullmatch(ref):
        raise ApiError(400, "a commit is named by 4-64 hexadecimal digits")
    if len(ref) in (40, 64):
        try:
            return _cached_commit(repo, ref.lower(), with_diff)
        except _NoSuchHash:
            pass  # 40 digits may be a prefix of a SHA-256 hash
    return _cached_commit(repo, _resolve_prefix(repo, ref), with_diff)


def _resolve_prefix(repo, ref: str) -> str:
    # LIKE cannot use the (repo_id, hash) index under a non-C collation and scans every
    # commit of the repository, so a full hash never comes here unless it is unknown.
    rows = get_store().query("SELECT hash FROM commits WHERE repo_id = ? AND hash LIKE ? "
                             "ORDER BY hash LIMIT 2", (repo.id, ref.lower() + "%"))
    if not rows:
        raise ApiError(404, f"unknown commit {ref} in {repo.name}")
    if len(rows) > 1:
        raise ApiError(400, f"commit prefix {ref} is ambiguous")
    return rows[0][0]


def _cached_commit(repo, full_hash: str, with_diff: bool) -> dict[str, Any]:
    # An exception (no such hash) is not cached: cached() stores only returned values.
    return cached(("ui.commit", full_hash, with_diff),
                  lambda: _stored_commit(repo, full_hash, with_diff), repo_id=repo.id, shared=True)


def _stored_commit(repo, full_hash: str, with_diff: bool) -> dict[str, Any]:
    store = get_store()
    rows = store.query_dicts(f"SELECT c.id, {_COMMIT_COLUMNS}, c.body, c.committer_name, "
                             "c.commit_time FROM commits c WHERE c.repo_id = ? AND c.hash = ?",
                             (repo.id, full_hash))
    if not rows:
        raise _NoSuchHash(full_hash)
    commit = rows[0]
    commit_id = commit.pop("id")
    commit["is_merge"] = bool(commit["is_merge"])
    commit["parents"] = commit["parents"].split()
    commit["files"] = store.query_dicts(
        "SELECT path, old_path, change_type, added, deleted, is_binary, language, skip_reason "
        "FROM file_changes WHERE commit_id = ? ORDER BY path", (commit_id,))
    commit["functions"] = [r[0] for r in store.query(
        "SELECT DISTINCT function FROM hunks WHERE commit_id = ? AND function <> '' ORDER BY function",
        (commit_id,))]
    experience = store.query_dicts(
        "SELECT title, problem, solution, category, languages, tags, patterns, links "
        "FROM experiences WHERE commit_id = ?", (commit_id,))
    commit["experience"] = experience[0] if experience else None
    commit["patterns"] = store.query_dicts(
        "SELECT pattern, path, line, snippet FROM pattern_occurrences WHERE commit_id = ? "
        "ORDER BY path, line", (commit_id,))
    if with_diff:
        commit["diff"], commit["diff_truncated"] = _diff(repo.path, commit["hash"])
    return commit


def _diff(path: str, full_hash: str) -> tuple[str | None, bool]:
    """The commit's patch as text (None when git cannot show it) and whether it was cut."""
    try:
        out, truncated = commit_patch(path, full_hash, max_bytes=MAX_DIFF_BYTES)
    except (DiffUnavailable, UnknownCommit, ValueError) as exc:
        # `git show` is the authority: it starts afresh and sees what a long-lived
        # process might not (a repository replaced on disk).
        log.info("diff of %s in %s by git show: %s", full_hash, path, exc)
        return _diff_by_git_show(path, full_hash)
    return out.decode("utf-8", "replace"), truncated


def _diff_by_git_show(path: str, full_hash: str) -> tuple[str | None, bool]:
    try:
        out = run_git(path, "show", "--no-color", "--no-ext-diff", "--format=", "--patch",
                      "--end-of-options", full_hash, "--").stdout
    except (RepositoryError, OSError):
        return None, False
    truncated = len(out) > MAX_DIFF_BYTES
    return out[:MAX_DIFF_BYTES].decode("utf-8", "replace"), truncated


@bp.get("/<ref>")
@requires("viewer")
@operation(responses={200: "the commit with files, functions, experience, patterns and diff",
                      404: "no such commit"})
def show(name: str, ref: str) -> Response:
    """One commit by full hash or unique prefix."""
    return jsonify({"commit": commit_detail(repository_or_404(name), ref)})

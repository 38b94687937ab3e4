"""A backend-independent snapshot of everything stored for one repository, for equality tests."""

from __future__ import annotations

from ades.storage import Store


def snapshot_history(store: Store, repo_name: str) -> dict[str, list[tuple]]:
    """Every history row of `repo_name`, with surrogate ids replaced by commit hashes."""
    (repo_id,) = store.query_one("SELECT id FROM repositories WHERE name = ?", (repo_name,))
    q = store.query
    snap = {
        "commits": q(
            "SELECT hash, parents, author_name, author_email, author_time, committer_name, "
            "committer_email, commit_time, subject, body, is_merge, category, confidence, "
            "files_changed, lines_added, lines_deleted FROM commits WHERE repo_id = ?",
            (repo_id,)),
        "file_changes": q(
            "SELECT c.hash, f.path, f.old_path, f.change_type, f.added, f.deleted, f.is_binary, "
            "f.language, f.skip_reason FROM file_changes f JOIN commits c ON c.id = f.commit_id "
            "WHERE c.repo_id = ?", (repo_id,)),
        "hunks": q(
            "SELECT c.hash, h.path, h.old_start, h.old_lines, h.new_start, h.new_lines, h.function "
            "FROM hunks h JOIN commits c ON c.id = h.commit_id WHERE c.repo_id = ?", (repo_id,)),
        "experiences": q(
            "SELECT c.hash, e.title, e.problem, e.solution, e.category, e.languages, e.tags, "
            "e.patterns, e.paths, e.functions, e.size, e.links, e.message FROM experiences e "
            "JOIN commits c ON c.id = e.commit_id WHERE c.repo_id = ?", (repo_id,)),
        "patterns": q(
            "SELECT c.hash, p.pattern, p.path, p.line, p.snippet FROM pattern_occurrences p "
            "JOIN commits c ON c.id = p.commit_id WHERE c.repo_id = ?", (repo_id,)),
    }
    if store.dialect == "sqlite":
        snap["search_index"] = q(
            "SELECT c.hash, f.title FROM experience_fts f JOIN experiences e ON e.id = f.rowid "
            "JOIN commits c ON c.id = e.commit_id WHERE c.repo_id = ?", (repo_id,))
        orphans = q("SELECT COUNT(*) FROM experience_fts WHERE rowid NOT IN "
                    "(SELECT id FROM experiences)")
        snap["search_index_orphans"] = orphans
    return {k: sorted(tuple(r) for r in v) for k, v in snap.items()}

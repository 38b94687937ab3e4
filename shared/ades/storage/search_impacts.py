"""Impact lists: the best-ranked experiences of each common word, per repository (PostgreSQL).

Ranking a word with ts_rank_cd means ranking every experience that holds it: "use" is in
26,000 of git/git's, and a one-word search for it took 70-140 ms, nearly all of it in
ts_rank_cd. For every word (lexeme) held by at least `HEAVY_DOCUMENTS` experiences, the
`search_impacts` table keeps, per repository, the experiences that rank best for that word
alone, with the exact score ts_rank_cd gives them; a one-word search (and a longer one that
reduces to one word, such as "after use", where "after" is a stop word) then reads its page
from an index. `ades.search` decides when a query may use them; everything else, and every
word below the threshold, is ranked from the GIN index as before.

The invariant that makes those answers exact: for every lexeme in `search_heavy_lexemes` and
every repository, `search_impacts` holds (at least) every experience of the repository that is
among its `depth` best for the lexeme, ordered as search orders (score, then newer first,
then lower id). A superset is harmless: the first `depth` rows of the list are still the
best ones. It is kept by:

- `add_postings`, in the transaction that stores new experiences: each one's rows for every
  heavy lexeme it holds (a list that held the best stays a superset of the best);
- `rebuild_repository`, in the transaction that prunes rewritten history: a deleted
  experience may have made room for one that was below the cut and is not listed;
- `refresh`, after an ingest: when the number of experiences has changed by a tenth since
  the last build (and at the first), which words are heavy is recomputed and every list
  is rebuilt to exactly its best `depth`.

Writers serialize on a lock of `search_heavy_lexemes`: SHARE for the many writers that only
add rows or delete a whole repository, EXCLUSIVE for the rebuilds, so a rebuild never misses
a batch that commits during it nor lists an experience deleted under it. Readers are never
blocked. SQLite has none of this: FTS5's bm25 ranks from its own index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .base import Store, Transaction

# A word in fewer experiences than this ranks from the GIN index in a few milliseconds.
HEAVY_DOCUMENTS = 1000
# How many of a word's best experiences each repository's list keeps: a search may page
# through this many (30 pages of 10) from the lists; a deeper page ranks every match.
DEPTH = 300
# After an ingest the lists are rebuilt when the number of experiences changed by this
# share since the last build (and by at least REBUILD_MIN_CHANGE).
REBUILD_SHARE = 0.10
REBUILD_MIN_CHANGE = 1000
REBUILD_TIMEOUT_MS = 30 * 60 * 1000

_POSTINGS = ("SELECT u.lexeme, s.experience_id, s.repo_id, "
             "ts_rank_cd(s.vector, h.query, 1) AS score, s.authored_at "
             "FROM experience_search s CROSS JOIN LATERAL unnest(s.vector) u "
             "JOIN search_heavy_lexemes h ON h.lexeme = u.lexeme")
_COLUMNS = "(lexeme, experience_id, repo_id, score, authored_at)"


@dataclass(frozen=True)
class Build:
    """The parameters of the lists in the database (None when they were never built)."""

    experiences: int
    heavy_documents: int
    depth: int
    built_at: int


def current_build(store: Store | Transaction) -> Build | None:
    """How the lists were last built, or None (never built, or SQLite)."""
    if _dialect(store) != "postgres":
        return None
    sql = "SELECT experiences, heavy_documents, depth, built_at FROM search_impact_builds WHERE id = 1"
    rows = store.query(sql) if isinstance(store, Store) else store.fetchall(sql)
    return Build(*rows[0]) if rows else None


def _dialect(store: Store | Transaction) -> str:
    return store.dialect if isinstance(store, Store) else store.store.dialect


def lock_for_writes(tx: Transaction) -> None:
    """Take the lock of a transaction that adds or deletes list rows without rebuilding:
    it waits for a rebuild in progress (whose rows it might otherwise miss, or delete the
    experiences of under it) and holds rebuilds off until it commits."""
    if tx.store.dialect == "postgres":
        tx.execute("LOCK TABLE search_heavy_lexemes IN SHARE MODE")


def add_postings(tx: Transaction, experience_ids: list[int]) -> None:
    """Add the heavy-lexeme rows of newly stored experiences (same transaction)."""
    if not experience_ids or tx.store.dialect != "postgres":
        return
    lock_for_writes(tx)
    tx.execute(f"INSERT INTO search_impacts {_COLUMNS} {_POSTINGS} "
               "WHERE s.experience_id = ANY(?)", (experience_ids,))


def lock_for_rebuild(tx: Transaction) -> None:
    """Take the lock a rebuild needs; take it before deleting experiences, or a concurrent
    rebuild waiting for the deleted rows would deadlock with this transaction."""
    if tx.store.dialect == "postgres":
        tx.execute("LOCK TABLE search_heavy_lexemes IN EXCLUSIVE MODE")


def _maintenance_settings(tx: Transaction) -> None:
    # Ranking every posting of every heavy word takes seconds per 100,000 experiences:
    # longer than a request's statement timeout, which this maintenance is not.
    tx.execute(f"SET LOCAL statement_timeout = {REBUILD_TIMEOUT_MS}")
    # Every posting of every heavy word is sorted to find each one's best (1.9 million
    # on git/git): in memory rather than in temporary files, 3 s faster there.
    tx.execute("SET LOCAL work_mem = '256MB'")


def _fill(tx: Transaction, depth: int, repo_id: int | None) -> None:
    where, params = ("WHERE s.repo_id = ?", [repo_id]) if repo_id is not None else ("", [])
    tx.execute(f"INSERT INTO search_impacts {_COLUMNS} "
               "SELECT lexeme, experience_id, repo_id, score, authored_at FROM ("
               "SELECT p.*, row_number() OVER (PARTITION BY p.repo_id, p.lexeme COLLATE \"C\" "
               "ORDER BY p.score DESC, p.authored_at DESC, p.experience_id) AS n "
               f"FROM ({_POSTINGS} {where}) p) ranked WHERE n <= ?", [*params, depth])


def rebuild_repository(tx: Transaction, repo_id: int) -> None:
    """Rebuild one repository's lists for the current heavy lexemes (after a deletion of
    some of its experiences; the caller took `lock_for_rebuild` first)."""
    build = current_build(tx)
    if build is None:
        return
    _maintenance_settings(tx)
    tx.execute("DELETE FROM search_impacts WHERE repo_id = ?", (repo_id,))
    _fill(tx, build.depth, repo_id)


def rebuild(store: Store, *, heavy_documents: int | None = None, depth: int | None = None) -> Build:
    """Recompute which lexemes are heavy and rebuild every list, in one transaction
    (by default with HEAVY_DOCUMENTS and DEPTH)."""
    heavy_documents = HEAVY_DOCUMENTS if heavy_documents is None else heavy_documents
    depth = DEPTH if depth is None else depth
    with store.transaction() as tx:
        lock_for_rebuild(tx)
        _maintenance_settings(tx)
        tx.execute("DELETE FROM search_impacts")
        tx.execute("DELETE FROM search_heavy_lexemes")
        # A lexeme's own tsquery: lexemes with a quote or a backslash are never heavy, so
        # quote_literal needs no escape syntax that tsquery input would read differently.
        tx.execute("INSERT INTO search_heavy_lexemes (lexeme, query) SELECT word, "
                   "quote_literal(word)::tsquery FROM "
                   "ts_stat('SELECT vector FROM experience_search') WHERE ndoc >= ? "
                   "AND strpos(word, chr(39)) = 0 AND strpos(word, chr(92)) = 0",
                   (heavy_documents,))
        _fill(tx, depth, None)
        ((count,),) = tx.fetchall("SELECT COUNT(*) FROM experience_search")
        build = Build(experiences=count, heavy_documents=heavy_documents, depth=depth,
                      built_at=int(time.time()))
        tx.execute("INSERT INTO search_impact_builds (id, experiences, heavy_documents, depth, "
                   "built_at) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                   "experiences = excluded.experiences, heavy_documents = "
                   "excluded.heavy_documents, depth = excluded.depth, built_at = excluded.built_at",
                   (build.experiences, build.heavy_documents, build.depth, build.built_at))
    return build


def refresh(store: Store) -> Build | None:
    """Rebuild the lists when the store has grown or shrunk by a tenth since the last build
    (or its parameters changed); returns the new build, or None when nothing was done."""
    if store.dialect != "postgres":
        return None
    build = current_build(store)
    (count,) = store.query_one("SELECT COUNT(*) FROM experience_search")
    if build is None:
        due = count >= HEAVY_DOCUMENTS
    else:
        due = ((build.heavy_documents, build.depth) != (HEAVY_DOCUMENTS, DEPTH)
               or abs(count - build.experiences) >= max(REBUILD_MIN_CHANGE,
                                                        REBUILD_SHARE * build.experiences))
    return rebuild(store) if due else None

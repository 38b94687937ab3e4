"""Versioned schema migrations, applied the same way on SQLite and PostgreSQL.

Each backend has a folder of numbered SQL files (`0001_engine.sql`, ...) with the same
numbers and names; `upgrade` applies, in order and each in its own transaction, the files
whose number is not yet recorded in `schema_migrations`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources

from .base import Store
from .errors import StorageError


@dataclass(frozen=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


def available_migrations(dialect: str) -> list[Migration]:
    """All migrations shipped for `dialect`, in version order."""
    folder = resources.files("ades.storage") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied_versions(store: Store) -> set[int]:
    """Versions recorded as applied (empty for a new database)."""
    try:
        return {row[0] for row in store.query("SELECT version FROM schema_migrations")}
    except StorageError:
        return set()


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (they end with ';' at the end of a line)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    parts = "\n".join(lines).split(";\n")
    return [p.strip().rstrip(";") for p in parts if p.strip().rstrip(";").strip()]


def upgrade(store: Store) -> list[Migration]:
    """Apply every pending migration; returns those applied (none when up to date).

    Each migration runs in one transaction that first takes the migration lock and then
    re-checks whether another process applied it meanwhile, so many workers starting at once
    on a new database apply each migration exactly once.
    """
    with store.transaction() as tx:
        if store.dialect == "postgres":
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalog.
            tx.execute("SELECT pg_advisory_xact_lock(4644613)")
        tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                   "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
    applied = []
    for migration in available_migrations(store.dialect):
        if migration.version in applied_versions(store):
            continue
        with store.transaction() as tx:
            if store.dialect == "postgres":
                tx.execute("SELECT pg_advisory_xact_lock(4644613)")
            # On SQLite the transaction's BEGIN IMMEDIATE already excludes other writers.
            if tx.fetchall("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)):
                continue
            for statement in _statements(migration.sql):
                tx.cursor.execute(statement)
            tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       (migration.version, migration.name, int(time.time())))
        applied.append(migration)
    return applied


def is_current(store: Store) -> bool:
    """True when every shipped migration has been applied."""
    have = applied_versions(store)
    return all(m.version in have for m in available_migrations(store.dialect))

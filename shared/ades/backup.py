"""Backups of an ADES installation, and restoring them: `ades backup` / `ades restore`.

A backup is one `.tar.gz` holding `manifest.json`, the database and the data directory:

- SQLite: `database/ades.db`, copied with SQLite's online backup API, so the services and
  workers may keep writing while it runs and the copy is still consistent.
- PostgreSQL: `database/ades.dump`, a `pg_dump --format=custom` of the configured database
  (consistent by PostgreSQL's snapshot); `pg_dump`/`pg_restore` must be on PATH.
- `data/`: everything else under GAIT_DATA_DIR (cloned repositories, the generated secret
  key, `ades-config.json`), minus the live database files and local run state.
- `config/ades-config.json`: the configuration file when it lives outside the data dir.

Restoring refuses to overwrite an existing database unless forced, checks that the backup's
database kind matches the configuration, and extracts with tarfile's `data` filter (no
absolute paths, links out of the tree or device files).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config

FORMAT = 1
_ARCHIVE_PREFIX = "ades-backup-"
# Never copied from the data dir: the live SQLite files and their locks (the database is
# copied by the backup API instead)
# and `run/`, the local launcher's pids, logs and metrics scratch files.
_SKIPPED_PREFIX = "ades.db"
_SKIPPED = ("run",)


class BackupError(Exception):
    """A backup or restore cannot proceed; the message is one line for the user."""


@dataclass
class BackupReport:
    """What a backup or restore did."""

    archive: Path
    database: str
    files: int
    bytes: int
    removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"archive": str(self.archive), "database": self.database, "files": self.files,
                "bytes": self.bytes, "removed": self.removed}


def create_backup(config: Config, output: Path) -> BackupReport:
    """Write a backup of `config`'s database and data directory to `output` (a .tar.gz)."""
    output = Path(output).resolve()
    if output.exists():
        raise BackupError(f"{output} already exists; choose another name")
    output.parent.mkdir(parents=True, exist_ok=True)
    data_dir = config.data_dir
    kind = "postgres" if config.uses_postgres else "sqlite"
    files = 0
    with tempfile.TemporaryDirectory(prefix="ades-backup-", dir=output.parent) as scratch:
        scratch_path = Path(scratch)
        partial = scratch_path / "backup.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            database = _dump_database(config, scratch_path)
            tar.add(database, arcname=f"database/{database.name}")
            if data_dir.is_dir():
                for entry in sorted(data_dir.iterdir()):
                    if entry.name in _SKIPPED or entry.name.startswith(_SKIPPED_PREFIX) \
                            or entry.resolve() == output.parent:
                        continue
                    tar.add(entry, arcname=f"data/{entry.name}", filter=_restorable)
                    files += sum(1 for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else 1
            if config.config_path and not _inside(config.config_path, data_dir):
                tar.add(config.config_path, arcname="config/ades-config.json")
            manifest = json.dumps({"format": FORMAT, "database": kind, "ades_version": __version__,
                                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                  indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(manifest), int(time.time())
            tar.addfile(info, io.BytesIO(manifest))
        os.replace(partial, output)
    return BackupReport(output, kind, files, output.stat().st_size, [])


def backup_to_directory(config: Config, directory: Path, keep: int | None) -> BackupReport:
    """A timestamped backup in `directory`, then delete all but the newest `keep` backups."""
    directory = Path(directory)
    name = f"{_ARCHIVE_PREFIX}{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tar.gz"
    report = create_backup(config, directory / name)
    if keep:
        backups = sorted(directory.glob(f"{_ARCHIVE_PREFIX}*.tar.gz"))
        for old in backups[:-keep]:
            old.unlink()
            report.removed.append(old.name)
    return report


def restore_backup(config: Config, archive: Path, *, force: bool = False) -> BackupReport:
    """Restore `archive` into `config`'s database and data directory.

    Refuses (BackupError) when the database already holds data and `force` is false, when
    the archive is not an ADES backup, or when its database kind differs from the config's.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such backup file")
    try:
        tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 -- closed by the `with` below
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive}: not a readable .tar.gz backup ({exc})") from None
    with tar, tempfile.TemporaryDirectory(prefix="ades-restore-") as scratch:
        manifest = _read_manifest(tar, archive)
        kind = "postgres" if config.uses_postgres else "sqlite"
        if manifest["database"] != kind:
            raise BackupError(f"{archive} holds a {manifest['database']} database but the "
                              f"configuration uses {kind}")
        try:
            tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"{archive}: cannot extract ({exc})") from None
        scratch_path = Path(scratch)
        if kind == "sqlite":
            _restore_sqlite(config, scratch_path / "database" / "ades.db", force)
        else:
            _restore_postgres(config, scratch_path / "database" / "ades.dump", force)
        files = _restore_data(scratch_path / "data", config.data_dir)
        saved_config = scratch_path / "config" / "ades-config.json"
        if saved_config.is_file():
            target = config.config_path or (config.data_dir / "ades-config.json.restored")
            shutil.copy2(saved_config, target)
            files += 1
    return BackupReport(archive, kind, files, archive.stat().st_size, [])


# --------------------------------------------------------------------------- database


def _dump_database(config: Config, scratch: Path) -> Path:
    if not config.uses_postgres:
        source = config.sqlite_path
        if not source.is_file():
            raise BackupError(f"no database at {source} (nothing has been stored yet)")
        target = scratch / "ades.db"
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                dst = sqlite3.connect(target)
                try:
                    src.backup(dst)
                finally:
                    dst.close()
            finally:
                src.close()
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite backup of {source} failed: {exc}") from None
        return target
    target = scratch / "ades.dump"
    _run_pg(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
             f"--file={target}", f"--dbname={config.database_url}"], "pg_dump")
    return target


def _restore_sqlite(config: Config, source: Path, force: bool) -> None:
    if not source.is_file():
        raise BackupError("the backup has no database/ades.db")
    target = config.sqlite_path
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    shutil.copy2(source, staged)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(staged, target)


def _restore_postgres(config: Config, dump: Path, force: bool) -> None:
    if not dump.is_file():
        raise BackupError("the backup has no database/ades.dump")
    from .storage import open_store

    store = open_store(config.database_url, pool_min=1, pool_max=1)
    try:
        row = store.query_one("SELECT count(*) AS n FROM information_schema.tables "
                              "WHERE table_schema = current_schema()")
    finally:
        store.close()
    tables = row["n"] if isinstance(row, dict) else row[0]
    if tables and not force:
        raise BackupError("the PostgreSQL database already has tables; pass --force to replace them")
    _run_pg(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
             "--single-transaction", "--exit-on-error", f"--dbname={config.database_url}", str(dump)],
            "pg_restore")


def _run_pg(command: list[str], tool: str) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (PostgreSQL client tools are needed)")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{tool} failed: {lines[-1] if lines else 'exit ' + str(result.returncode)}")


# --------------------------------------------------------------------------- files


def _restore_data(source: Path, data_dir: Path) -> int:
    if not source.is_dir():
        return 0
    data_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.rglob("*")):
        target = data_dir / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        member = tar.extractfile("manifest.json")
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError, tarfile.TarError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or \
            manifest.get("database") not in ("sqlite", "postgres"):
        raise BackupError(f"{archive} is not an ADES backup (no valid manifest.json)")
    return manifest


def _restorable(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # Sockets, devices and fifos cannot be restored meaningfully; leave them out.
    return info if info.isfile() or info.isdir() or info.issym() else None


def _inside(path: Path, directory: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
    except ValueError:
        return False
    return True


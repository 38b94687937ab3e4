"""Ingestion: bring a repository's stored history level with its HEAD.

The plan is a set difference: the commits reachable from HEAD minus those already stored.
Stored commits that are no longer reachable (history was rewritten) are pruned; missing ones
are mined by one or more long-lived `git log` processes (history split into contiguous
shards), analysed, and written in batches, each batch one transaction. A kill at any moment
therefore loses at most the batch in flight, and a re-run simply computes a smaller
difference: nothing is stored twice.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from ..analysis.pipeline import AnalysedCommit, analyse_commit
from ..storage import Store
from ..storage.history import prune_commits, stored_hashes, write_commits
from ..storage.locks import repository_lock
from ..storage.repositories import Repository, record_ingest, register_repository
from .gitlog import stream_commits
from .gitrepo import GitRepository, open_repository, reachable_commits

ProgressCallback = Callable[[int, int], None]


class IngestCancelled(Exception):
    """The caller asked the ingest to stop; everything written so far is kept."""


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did."""

    repository: str
    head: str
    total_commits: int
    new_commits: int
    pruned_commits: int
    rewritten: bool
    seconds: float

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        return asdict(self)


def _shards(hashes: list[str], count: int) -> list[list[str]]:
    count = max(1, min(count, len(hashes) // 2000 or 1))
    size = -(-len(hashes) // count)
    return [hashes[i:i + size] for i in range(0, len(hashes), size)]


def _analysed_batches(repo_path: str, hashes: list[str], shards: int,
                      batch_size: int) -> Iterator[list[AnalysedCommit]]:
    """Mine and analyse `hashes`, yielding batches; shards run in parallel threads."""
    if not hashes:
        return
    parts = _shards(hashes, shards)
    if len(parts) == 1:
        batch: list[AnalysedCommit] = []
        for commit in stream_commits(repo_path, parts[0]):
            batch.append(analyse_commit(commit))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    out: queue.Queue = queue.Queue(maxsize=4 * len(parts))
    stop = threading.Event()
    done = object()

    def work(part: list[str]) -> None:
        try:
            batch: list[AnalysedCommit] = []
            for commit in stream_commits(repo_path, part):
                if stop.is_set():
                    return
                batch.append(analyse_commit(commit))
                if len(batch) >= batch_size:
                    out.put(batch)
                    batch = []
            if batch:
                out.put(batch)
        except BaseException as exc:  # re-raised in the consuming thread
            out.put(exc)
        finally:
            out.put(done)

    threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in parts]
    for t in threads:
        t.start()
    running = len(threads)
    try:
        while running:
            item = out.get()
            if item is done:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.05)
        for t in threads:
            t.join()


def ingest_repository(store: Store, path: str, *, name: str | None = None, url: str | None = None,
                      batch_size: int = 500, shards: int = 2,
                      progress: ProgressCallback | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      repo: GitRepository | None = None) -> IngestResult:
    """Ingest the history reachable from HEAD of the repository at `path` into `store`.

    Validates the repository before touching the database (bad input changes nothing).
    Raises RepositoryError, StorageError, GitLogError, IngestBusy or IngestCancelled.
    """
    started = time.monotonic()
    git = repo or open_repository(path)
    record: Repository = register_repository(store, name or git.default_name, git.path, url)
    with repository_lock(store, record.id):
        reachable = reachable_commits(git.path, git.head)
        have = stored_hashes(store, record.id)
        reachable_set = set(reachable)
        stale = [h for h in have if h not in reachable_set]
        pruned = prune_commits(store, record.id, stale) if stale else 0
        missing = [h for h in reachable if h not in have]
        total = len(missing)
        done = 0
        if progress:
            progress(0, total)
        for batch in _analysed_batches(git.path, missing, shards, batch_size):
            write_commits(store, record.id, batch)
            done += len(batch)
            if progress:
                progress(done, total)
            if should_stop is not None and should_stop():
                raise IngestCancelled(f"ingest of {record.name} cancelled after {done} commits")
        seconds = time.monotonic() - started
        record_ingest(store, record.id, head=git.head, branch=git.branch,
                      commit_count=len(reachable), seconds=seconds)
    return IngestResult(repository=record.name, head=git.head, total_commits=len(reachable),
                        new_commits=done, pruned_commits=pruned, rewritten=bool(stale),
                        seconds=round(seconds, 3))

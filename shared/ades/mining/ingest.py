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
import ctypes
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from ..analysis.pipeline import AnalysedCommit, analyse_commit
from ..storage import Store, search_impacts
from ..storage.history import prune_commits, stored_hashes, write_commits
from ..storage.locks import repository_lock
from ..storage.repositories import Repository, get_repository, record_ingest, register_repository
from .gitlog import GitLogError, stream_commits
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


# Below this many missing commits, one in-process stream beats the cost of starting workers.
PARALLEL_THRESHOLD = 4000


def _chunks(hashes: list[str], workers: int) -> list[list[str]]:
    """Contiguous chunks, several per worker so a fast worker takes more of them (history is
    uneven: some eras have far bigger patches than others)."""
    size = min(10_000, max(1_000, -(-len(hashes) // (workers * 4))))
    return [hashes[i:i + size] for i in range(0, len(hashes), size)]


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux), so a killed
    ingest leaves no orphan writing behind the next run's back."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def _ingest_chunks(database_url: str, repo_path: str, repo_id: int, chunks: list[list[str]],
                   tasks: multiprocessing.Queue, batch_size: int, parent_pid: int,
                   events: multiprocessing.Queue) -> None:
    """Worker process: take numbers of `chunks` of the history from `tasks` until it yields
    None; mine, analyse and store each (one git process per chunk)."""
    _die_with_parent(parent_pid)
    from ..storage import open_store

    try:
        store = open_store(database_url, pool_min=1, pool_max=2, migrate=False, bulk_writes=True)
        try:
            while (number := tasks.get()) is not None:
                for batch in _stream_batches(repo_path, chunks[number], batch_size):
                    write_commits(store, repo_id, batch)
                    events.put(("progress", len(batch)))
        finally:
            store.close()
    except BaseException as exc:  # reported to the parent, which re-raises it
        events.put(("error", exc))
    else:
        events.put(("done", None))


def _stream_batches(repo_path: str, hashes: list[str],
                    batch_size: int) -> Iterator[list[AnalysedCommit]]:
    batch: list[AnalysedCommit] = []
    for commit in stream_commits(repo_path, hashes):
        batch.append(analyse_commit(commit))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _ingest_in_workers(store: Store, repo_path: str, repo_id: int, hashes: list[str],
                       shards: int, batch_size: int, progress: ProgressCallback | None,
                       should_stop: Callable[[], bool] | None) -> int:
    """Run `shards` worker processes over chunks of `hashes` (each with its own git processes
    and database connection: parsing and analysis are CPU-bound Python, so threads would
    share one core)."""
    ctx = multiprocessing.get_context("spawn")
    events, tasks = ctx.Queue(), ctx.Queue()
    # The chunks travel with the process arguments and the queue carries only their numbers:
    # a few bytes each, so the queue's feeder thread never blocks on a full pipe, even when
    # the workers are gone early (a long-running `ades worker` would keep such a thread).
    chunks = _chunks(hashes, shards)
    for number in range(len(chunks)):
        tasks.put(number)
    for _ in range(shards):
        tasks.put(None)
    workers = [ctx.Process(target=_ingest_chunks, daemon=True,
                           args=(store.database_url, repo_path, repo_id, chunks, tasks,
                                 batch_size, os.getpid(), events))
               for _ in range(shards)]
    for w in workers:
        w.start()
    done, running = 0, len(workers)
    try:
        while running:
            try:
                kind, value = events.get(timeout=1.0)
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and events.empty():
                    raise GitLogError("an ingest worker died unexpectedly") from None
                continue
            if kind == "progress":
                done += value
                if progress:
                    progress(done, len(hashes))
                if should_stop is not None and should_stop():
                    raise IngestCancelled(f"ingest cancelled after {done} commits")
            elif kind == "error":
                raise value
            else:
                running -= 1
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join()
        for q in (events, tasks):
            q.cancel_join_thread()  # the workers are gone: nothing will read what is left
            q.close()
    return done


def _up_to_date(store: Store, repo_id: int, head: str) -> bool:
    """True when the last completed ingest reached `head` and every one of its commits is
    still stored (an interrupted or pruned ingest fails the count check)."""
    row = store.query_one("SELECT head_commit, commit_count FROM repositories WHERE id = ?", (repo_id,))
    if row is None or row[0] != head:
        return False
    (stored,) = store.query_one("SELECT COUNT(*) FROM commits WHERE repo_id = ?", (repo_id,))
    return stored == row[1]


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
        if _up_to_date(store, record.id, git.head):
            seconds = time.monotonic() - started
            count = get_repository(store, record.name).commit_count
            record_ingest(store, record.id, head=git.head, branch=git.branch,
                          commit_count=count, seconds=seconds)
            search_impacts.refresh(store)
            return IngestResult(repository=record.name, head=git.head, total_commits=count,
                                new_commits=0, pruned_commits=0, rewritten=False,
                                seconds=round(seconds, 3))
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
        if shards > 1 and total >= PARALLEL_THRESHOLD:
            done = _ingest_in_workers(store, git.path, record.id, missing, shards, batch_size,
                                      progress, should_stop)
        else:
            for batch in _stream_batches(git.path, missing, batch_size):
                write_commits(store, record.id, batch)
                done += len(batch)
                if progress:
                    progress(done, total)
                if should_stop is not None and should_stop():
                    raise IngestCancelled(f"ingest of {record.name} cancelled after {done} commits")
        seconds = time.monotonic() - started
        record_ingest(store, record.id, head=git.head, branch=git.branch,
                      commit_count=len(reachable), seconds=seconds)
        # Common words' impact lists are rebuilt when the history grew or shrank by a tenth.
        search_impacts.refresh(store)
    return IngestResult(repository=record.name, head=git.head, total_commits=len(reachable),
                        new_commits=done, pruned_commits=pruned, rewritten=bool(stale),
                        seconds=round(seconds, 3))

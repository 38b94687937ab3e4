"""Commit patches from long-lived `git diff-tree --stdin` processes, one per repository.

Starting git costs more than most diffs (it re-opens every pack index), so a `DiffPool`
keeps at most `max_processes` processes per worker process, one per repository path,
started lazily and closed least recently used first, at interpreter exit, or when found in
a child after a fork (a process belongs to the pid that started it). Requests for one
repository share its process under a lock; under gevent the lock, the pipes and the wait
for output are all cooperative.

One request writes `<hash>\\n` and then a line holding a random nonce. diff-tree answers
`<hash>\\n` (`--always`, even when the diff is empty) and the patch, then echoes the
nonce line, which is not an object id, and flushes. A patch line never equals that line
(every patch line starts with a prefix, and git quotes paths with newlines), so it
delimits one commit's output exactly; a missing `<hash>` line means no such commit.

The options (`-p --root --cc -M --no-color --no-ext-diff`) give what
`git show --format= --patch` prints with git's default configuration: the diff against
the empty tree for a root commit, a dense combined diff for a merge (nothing for a clean
one), rename detection, "Binary files ... differ". Where they can differ: diff-tree is
plumbing and ignores the repository's porcelain `diff.*` settings (`diff.renames`,
`diff.algorithm`, `diff.context`, `diff.noprefix`, `diff.mnemonicPrefix`,
`diff.orderFile`, `diff.submodule`, `diff.relative`) and textconv filters, which
`git show` applies; the patch is then git's default one instead.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import secrets
import selectors
import subprocess
import threading
import time
from collections import OrderedDict

from .gitrepo import _GIT_ENV

log = logging.getLogger("ades.mining.diffs")

MAX_PROCESSES = 4
TIMEOUT_SECONDS = 10.0
_FULL_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_READ_SIZE = 65536
_DIFF_TREE = ("diff-tree", "--stdin", "-p", "--root", "--always", "--cc", "-M", "--no-color",
              "--no-ext-diff")


class DiffUnavailable(Exception):
    """No git process could answer (timeout, process died twice, repository unusable)."""


class UnknownCommit(LookupError):
    """The repository has no commit by that hash."""


def full_hash(value: str) -> str:
    """`value` lower-cased if it is a full 40- or 64-digit hexadecimal hash; else ValueError."""
    lowered = value.lower() if isinstance(value, str) else ""
    if not _FULL_HASH.fullmatch(lowered):
        raise ValueError(f"not a full commit hash: {value!r}")
    return lowered


class _ProcessDied(Exception):
    pass


class _DiffProcess:
    """One `git diff-tree --stdin` for one repository, used by one request at a time."""

    def __init__(self, repo_path: str) -> None:
        self.repo_path = repo_path
        self.owner_pid = os.getpid()
        self.lock = threading.Lock()
        self.retired = False  # evicted while in use: the user closes it when done
        self.closed = False
        self.proc = subprocess.Popen(["git", "-C", repo_path, *_DIFF_TREE],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=dict(os.environ, **_GIT_ENV))
        self._out = self.proc.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._out, selectors.EVENT_READ)

    def ask(self, commit: str, max_bytes: int, deadline: float) -> tuple[bytes, bool]:
        """The patch of `commit` (at most `max_bytes`) and whether it was longer."""
        sentinel = f"~ades-diff-end {secrets.token_hex(16)}\n".encode()
        try:
            os.write(self.proc.stdin.fileno(), f"{commit}\n".encode() + sentinel)
        except OSError as exc:  # BrokenPipeError: git is gone
            raise _ProcessDied(str(exc)) from None
        header = f"{commit}\n".encode()
        # Everything is read up to the sentinel, but only what the caller may see is kept.
        keep = len(header) + max_bytes + len(sentinel)
        kept, tail, total = bytearray(), b"", 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise TimeoutError(f"git diff-tree gave no answer for {commit}")
            try:
                chunk = os.read(self._out, _READ_SIZE)
            except BlockingIOError:
                continue
            if not chunk:
                raise _ProcessDied("git diff-tree exited")
            total += len(chunk)
            if len(kept) < keep:
                kept += chunk[:keep - len(kept)]
            tail = (tail + chunk)[-(len(sentinel) + 1):]
            if tail == sentinel or tail.endswith(b"\n" + sentinel):
                break
        if not kept.startswith(header):
            raise UnknownCommit(commit)
        size = total - len(header) - len(sentinel)
        return bytes(kept[len(header):len(header) + min(size, max_bytes)]), size > max_bytes

    def close(self) -> None:
        """End the process: EOF on its input, then a kill if it lingers."""
        if self.closed:
            return
        self.closed = True
        if self.owner_pid == os.getpid():  # a parent's process is left alone: drop our copies
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self._reap()
        self._release()

    def kill(self) -> None:
        """Kill the process now (it is stuck or broken), reap it and free its pipes."""
        if self.closed:
            return
        self.closed = True
        if self.owner_pid == os.getpid():
            self._reap()
        self._release()

    def _reap(self) -> None:
        self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("git diff-tree %s did not exit after SIGKILL", self.proc.pid)

    def _release(self) -> None:
        self._selector.close()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):  # a dead reader: nothing buffered is lost
                pipe.close()


class DiffPool:
    """At most `max_processes` diff-tree processes of this process, one per repository path."""

    def __init__(self, max_processes: int = MAX_PROCESSES,
                 timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        if max_processes < 1:
            raise ValueError("max_processes must be at least 1")
        self.max_processes = max_processes
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._processes: OrderedDict[str, _DiffProcess] = OrderedDict()
        self._exit_hook = False

    def patch(self, repo_path: str, commit: str, *, max_bytes: int) -> tuple[bytes, bool]:
        """What `git show --format= --patch <commit>` prints in `repo_path` (see the module
        docstring), cut to `max_bytes`, and whether it was longer.

        Raises ValueError unless `commit` is a full hash, `UnknownCommit` when the repository
        has no such commit, and `DiffUnavailable` when no process could answer: a dead process
        is replaced once, a stuck one is killed after the timeout and not replaced.
        """
        commit = full_hash(commit)
        deadline = time.monotonic() + self.timeout_seconds
        restarted = False
        while True:
            process = self._process_for(repo_path)
            if not process.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise DiffUnavailable(f"git diff-tree for {repo_path} stayed busy")
            try:
                if process.closed:
                    continue  # evicted or discarded while we waited: take the new one
                try:
                    return process.ask(commit, max_bytes, deadline)
                except TimeoutError as exc:
                    self._discard(process)
                    raise DiffUnavailable(str(exc)) from None
                except _ProcessDied as exc:
                    self._discard(process)
                    if restarted:
                        raise DiffUnavailable(f"{exc} twice in {repo_path}") from None
                    restarted = True
            finally:
                process.lock.release()
                if process.retired:
                    self._close_if_idle(process)

    def close(self) -> None:
        """Close every process this process started (forget those inherited over a fork)."""
        with self._lock:
            doomed = list(self._processes.values())
            self._processes.clear()
        for process in doomed:
            process.close()

    def __len__(self) -> int:
        return len(self._processes)

    def pid_of(self, repo_path: str) -> int | None:
        """The pid of `repo_path`'s git process in this pool, if it has a live one."""
        process = self._processes.get(repo_path)
        if process is None or process.closed or process.owner_pid != os.getpid():
            return None
        return process.proc.pid

    def _process_for(self, repo_path: str) -> _DiffProcess:
        victims: list[_DiffProcess] = []
        if self._pid != os.getpid():
            # A child after fork has one thread; the parent's processes are not its own,
            # and the lock may have been copied while held.
            self._lock = threading.Lock()
            victims, self._processes = list(self._processes.values()), OrderedDict()
            self._pid = os.getpid()
        with self._lock:
            process = self._processes.get(repo_path)
            if process is not None and not process.closed:
                self._processes.move_to_end(repo_path)
            else:
                try:
                    process = _DiffProcess(repo_path)
                except OSError as exc:  # no git binary, no file descriptors left
                    raise DiffUnavailable(f"cannot start git diff-tree: {exc}") from None
                self._processes[repo_path] = process
                while len(self._processes) > self.max_processes:
                    victims.append(self._processes.popitem(last=False)[1])
                if not self._exit_hook:
                    atexit.register(self.close)
                    self._exit_hook = True
        for victim in victims:
            victim.retired = True
            self._close_if_idle(victim)
        return process

    def _close_if_idle(self, process: _DiffProcess) -> None:
        # The evictor and the current user each try: whichever comes last closes it.
        if process.owner_pid != os.getpid():
            process.close()
        elif process.lock.acquire(blocking=False):
            try:
                process.close()
            finally:
                process.lock.release()

    def _discard(self, process: _DiffProcess) -> None:
        with self._lock:
            if self._processes.get(process.repo_path) is process:
                del self._processes[process.repo_path]
        log.warning("git diff-tree for %s failed; process discarded", process.repo_path)
        process.kill()


_pool = DiffPool()


def commit_patch(repo_path: str, commit: str, *, max_bytes: int) -> tuple[bytes, bool]:
    """`DiffPool.patch` on this process's shared pool."""
    return _pool.patch(repo_path, commit, max_bytes=max_bytes)

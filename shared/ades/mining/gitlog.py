"""Streaming `git log -p` parser: commits, file changes, hunks and their function names.

One long-lived git process is fed the commits to mine on stdin (`--no-walk=unsorted
--stdin`) and prints every commit's header (NUL-separated fields, so any byte a message can
hold is safe) followed by its patch against the first parent with renames off, which makes
the per-file numbers those of `git log --no-merges --no-renames --numstat`. Hunk bodies are
consumed by counting their line ranges, so content that looks like diff syntax cannot
derail the parser. Merges print no patch (`--diff-merges=off`); their own changes are not
counted, as in SPEC §9.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib import resources

from ..analysis.filters import skip_reason
from ..analysis.languages import language_for_path
from ..model import Commit, FileChange, Hunk

LOG_FORMAT = "%x00%H%x00%P%x00%aN%x00%aE%x00%at%x00%cN%x00%cE%x00%ct%x00%B%x00"
_HEADER_FIELDS = 10  # NUL bytes in one formatted header
_HUNK = re.compile(rb"^@@+ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@+ ?(.*)$")
# Text kept per file for content analysis; beyond this a file counts as "huge".
MAX_ANALYSED_LINES = 5000
_ZERO_BLOB = re.compile(r"^0+$")
_OBJECT_ID = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
_OBJECT_IDS = re.compile(rb"(?:[0-9a-f]{40}|[0-9a-f]{64})(?: (?:[0-9a-f]{40}|[0-9a-f]{64}))*")


class GitLogError(Exception):
    """git failed or printed something the parser cannot read."""


def attributes_file() -> str:
    """Path of the gitattributes file that selects git's built-in function-name rules."""
    return str(resources.files("ades.mining") / "gitattributes")


def log_command(repo_path: str) -> list[str]:
    """The git command that prints commits named on stdin with their patches."""
    return [
        "git", "-C", repo_path,
        "-c", "core.quotePath=false",
        "-c", f"core.attributesFile={attributes_file()}",
        "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
        "-c", "log.showSignature=false", "-c", "diff.relative=false",
        "log", "--no-walk=unsorted", "--stdin", "--patch", "--unified=0", "--no-renames",
        "--diff-merges=off", "--no-color", "--no-ext-diff", "--no-textconv", "--full-index",
        "--src-prefix=a/", "--dst-prefix=b/", "--encoding=UTF-8", "--no-notes",
        f"--format={LOG_FORMAT}",
    ]


def _unquote(raw: bytes) -> bytes:
    """Undo git's C-style quoting of a path ("a\\tb" -> a<TAB>b, octal escapes)."""
    body = raw[1:-1]
    out = bytearray()
    i = 0
    escapes = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord('"'): 34, ord("\\"): 92,
               ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("v"): 11}
    while i < len(body):
        c = body[i]
        if c == 92 and i + 1 < len(body):
            nxt = body[i + 1]
            if 48 <= nxt <= 55:
                out.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(escapes.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def decode_path(raw: bytes) -> str:
    """A path's bytes as text: UTF-8, with any byte that is not valid UTF-8 written as `\\xNN`.

    Unlike U+FFFD replacement this keeps distinct paths distinct (b"f\\xfe" and b"f\\xff"
    are two files to git, and stay two here), and the text is still valid for PostgreSQL.
    """
    return raw.decode("utf-8", "backslashreplace")


def parse_diff_git_path(rest: bytes) -> str:
    """The path of a `diff --git a/P b/P` line (renames are off, so both sides are equal)."""
    if rest.startswith(b'"'):
        # Quoted form: "a/P" "b/P" (each side quoted independently); find the first
        # closing quote that is not escaped.
        end = 1
        while end < len(rest) and rest[end] != 34:
            end += 2 if rest[end] == 92 else 1
        return decode_path(_unquote(rest[:end + 1])[2:])
    # Unquoted: "a/P b/P"; equal sides let us split by length even when P has spaces.
    half = (len(rest) - 1) // 2
    return decode_path(rest[2:half])


def _parse_header(raw: bytes) -> Commit:
    fields = raw.split(b"\x00")
    # fields: ['', H, P, aN, aE, at, cN, cE, ct, B, trailing]
    # A corrupt stream must end in GitLogError, not in a decode error further down.
    if (len(fields) != _HEADER_FIELDS + 1 or not _OBJECT_ID.fullmatch(fields[1])
            or (fields[2] and not _OBJECT_IDS.fullmatch(fields[2]))):
        raise GitLogError("unexpected commit header in git log output")
    try:
        author_time, commit_time = int(fields[5]), int(fields[8])
    except ValueError as exc:
        raise GitLogError("unparseable commit timestamp in git log output") from exc
    message = _decode(fields[9]).rstrip("\n")
    return Commit(
        hash=fields[1].decode("ascii"),
        parents=fields[2].decode("ascii").split(),
        author_name=_decode(fields[3]), author_email=_decode(fields[4]),
        author_time=author_time,
        committer_name=_decode(fields[6]), committer_email=_decode(fields[7]),
        commit_time=commit_time, message=message)


class _FileState:
    """Per-file accumulation while its patch streams by."""

    __slots__ = ("change", "collect", "added_lines", "removed_lines", "old_blob", "new_blob")

    def __init__(self, path: str):
        self.change = FileChange(path=path, language=language_for_path(path))
        reason = skip_reason(path, 0, 0, False)
        self.change.skip_reason = reason
        self.collect = not reason
        self.added_lines: list[bytes] = []
        self.removed_lines: list[bytes] = []
        self.old_blob = ""
        self.new_blob = ""

    def finish(self) -> FileChange:
        change = self.change
        if change.is_binary:
            change.skip_reason = "binary"
        elif not change.skip_reason:
            change.skip_reason = skip_reason(change.path, change.added, change.deleted, False)
        if not change.skip_reason and self.collect:
            change.added_text = _decode(b"".join(self.added_lines))
        if change.change_type == "D" and self.removed_lines:
            change.removed_text = _decode(b"".join(self.removed_lines))
        return change


def parse_log(stream: Iterable[bytes]) -> Iterator[Commit]:
    """Parse the output of `log_command` line by line, yielding each commit as it ends."""
    commit: Commit | None = None
    files: list[_FileState] = []
    state: _FileState | None = None
    old_left = new_left = 0  # lines still expected in the current hunk
    lines = iter(stream)
    for line in lines:
        if old_left or new_left:
            first = line[:1]
            if first == b"+":
                new_left -= 1
                state.change.added += 1
                if state.collect:
                    if len(state.added_lines) < MAX_ANALYSED_LINES:
                        state.added_lines.append(line[1:])
                    else:
                        state.collect = False
                        state.added_lines = []
            elif first == b"-":
                old_left -= 1
                state.change.deleted += 1
                if state.change.change_type == "D" and len(state.removed_lines) < MAX_ANALYSED_LINES:
                    state.removed_lines.append(line[1:])
            elif first == b" ":
                old_left -= 1
                new_left -= 1
            elif first == b"\\":
                pass  # "\ No newline at end of file"
            else:
                raise GitLogError(f"unexpected line inside a hunk: {line[:60]!r}")
            continue
        if line.startswith(b"\x00"):
            if commit is not None:
                commit.files = _finish_files(files)
                yield commit
            raw = line
            while raw.count(b"\x00") < _HEADER_FIELDS:
                try:
                    raw += next(lines)
                except StopIteration as exc:
                    raise GitLogError("git log output ended inside a commit header") from exc
            commit = _parse_header(raw)
            files = []
            state = None
        elif line.startswith(b"diff --git "):
            path = parse_diff_git_path(line[11:].rstrip(b"\n"))
            if files and files[-1].change.path == path:
                # A type change (file <-> symlink) prints as a deletion then a creation of
                # the same path; numstat counts it as one change, and so do we.
                state = files[-1]
            else:
                state = _FileState(path)
                files.append(state)
        elif line.startswith(b"@@"):
            match = _HUNK.match(line.rstrip(b"\n"))
            if match is None or state is None:
                raise GitLogError(f"unreadable hunk header: {line[:60]!r}")
            o_start, o_len, n_start, n_len, func = match.groups()
            old_left = 1 if o_len is None else int(o_len)
            new_left = 1 if n_len is None else int(n_len)
            state.change.hunks.append(Hunk(int(o_start), old_left, int(n_start), new_left,
                                           _decode(func).strip()[:200]))
        elif state is not None:
            _file_header_line(state, line)
        elif line.strip() and commit is None:
            raise GitLogError(f"unexpected output before the first commit: {line[:60]!r}")
    if commit is not None:
        commit.files = _finish_files(files)
        yield commit


def _file_header_line(state: _FileState, line: bytes) -> None:
    if line.startswith(b"new file mode"):
        state.change.change_type = "T" if state.change.change_type == "D" else "A"
    elif line.startswith(b"deleted file mode"):
        state.change.change_type = "D"
    elif line.startswith(b"index "):
        blobs = line[6:].split(b" ", 1)[0].rstrip(b"\n").split(b"..")
        if len(blobs) == 2 and all(_OBJECT_ID.fullmatch(b) for b in blobs):
            state.old_blob, state.new_blob = blobs[0].decode("ascii"), blobs[1].decode("ascii")
    elif line.startswith(b"Binary files ") or line.startswith(b"GIT binary patch"):
        state.change.is_binary = True
        state.collect = False


def _finish_files(files: list[_FileState]) -> list[FileChange]:
    changes = [f.finish() for f in files]
    if any(c.change_type == "A" for c in changes) and any(c.change_type == "D" for c in changes):
        _mark_renames(files)
    for c in changes:
        c.removed_text = ""
    return changes


def _similarity(a: str, b: str) -> float:
    left, right = set(a.splitlines()), set(b.splitlines())
    if not left or not right:
        return 0.0
    return len(left & right) / max(len(left), len(right))


def _mark_renames(files: list[_FileState]) -> None:
    """Pair deleted and added files of one commit as renames (exact blob, else >= 50% lines).

    Both rows stay (the per-file numbers are those of --no-renames); the added side records
    the source in `old_path` and becomes type R.
    """
    deleted = [f for f in files if f.change.change_type == "D"]
    added = [f for f in files if f.change.change_type == "A"]
    by_blob = {f.old_blob: f for f in deleted if f.old_blob and not _ZERO_BLOB.match(f.old_blob)}
    taken: set[int] = set()
    for f in added:
        source = by_blob.get(f.new_blob)
        if source is not None and id(source) not in taken:
            taken.add(id(source))
            f.change.change_type, f.change.old_path = "R", source.change.path
    for f in added:
        if f.change.change_type != "A" or f.change.is_binary:
            continue
        best, best_score = None, 0.5
        for source in deleted:
            if id(source) in taken or source.change.is_binary:
                continue
            score = _similarity(source.change.removed_text, f.change.added_text)
            if score >= best_score:
                best, best_score = source, score
        if best is not None:
            taken.add(id(best))
            f.change.change_type, f.change.old_path = "R", best.change.path


def stream_commits(repo_path: str, hashes: list[str],
                   on_process: Callable[[subprocess.Popen], None] | None = None) -> Iterator[Commit]:
    """Mine `hashes` (in the given order) from the repository at `repo_path`.

    One git process serves the whole list. Raises GitLogError if git fails.
    """
    if not hashes:
        return
    env = dict(os.environ, LC_ALL="C", GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    proc = subprocess.Popen(log_command(repo_path), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            bufsize=1 << 20)
    if on_process is not None:
        on_process(proc)

    def feed() -> None:
        try:
            proc.stdin.write("".join(h + "\n" for h in hashes).encode("ascii"))
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    reader.start()
    finished = False
    try:
        yield from parse_log(proc.stdout)
        finished = True
    finally:
        if not finished:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
        writer.join()
        reader.join()
        proc.stderr.close()
        if not proc.stdin.closed:
            proc.stdin.close()
    if code != 0:
        message = b"".join(errors).decode("utf-8", "replace").strip().splitlines()
        raise GitLogError(f"git log failed: {message[-1] if message else f'exit {code}'}")

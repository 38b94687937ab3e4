"""Property tests of the git log parser: whatever bytes a history holds, it reads what git reads.

Two kinds of input. Real repositories, written with `git fast-import` from generated data:
paths with spaces, tabs, newlines, quotes, backslashes and non-UTF-8 bytes; messages and
author names with any byte git accepts; text and binary contents; additions, changes and
deletions. Mining them must give git's own answers: as many commits as `git rev-list`,
the authors, times and messages `git log` prints, and per file the added/deleted lines of
`git log --numstat -z --no-renames` ("-" for binary). And synthetic streams: lines that
look like git's output but are shuffled, cut or corrupted; the parser must read them or
raise GitLogError, never anything else.

`FUZZ_EXAMPLES` raises the number of generated cases (`make fuzz`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
from ades.mining.gitlog import GitLogError, parse_log, stream_commits
from ades.mining.gitrepo import reachable_commits
from gitrepos import git
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None
# Each case builds a repository and runs git a few times: fewer cases than a pure test.
REPO_SETTINGS = settings(max_examples=EXAMPLES or 40, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])
STREAM_SETTINGS = settings(max_examples=(EXAMPLES or 40) * 10, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.too_slow])

# --- generated histories ------------------------------------------------------------------

# Bytes of a path component: anything but "/" and NUL, weighted towards the awkward ones.
_AWKWARD = [b" ", b"\t", b"\n", b'"', b"\\", b"\x01", b"\x7f", b"\xc3\xa9", b"\xff", b"\xe6\x97\xa5",
            b"a/", b"-", b"@@", b" b", b"\r"]
_path_byte = st.one_of(st.sampled_from(_AWKWARD),
                       st.binary(min_size=1, max_size=1).filter(lambda b: b not in (b"/", b"\x00")))
_component = st.lists(_path_byte, min_size=1, max_size=6).map(b"".join).map(
    lambda raw: raw.replace(b"/", b"_"))


@st.composite
def _paths(draw) -> list[bytes]:
    """Distinct paths, none a directory of another: "d<dir>/f<name>" or "f<name>"."""
    count = draw(st.integers(1, 5))
    out: list[bytes] = []
    for _ in range(count):
        name = b"f" + draw(_component)
        if draw(st.booleans()):
            name = b"d" + draw(_component) + b"/" + name
        if name not in out:
            out.append(name)
    return out


_text_line = st.one_of(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\x00", b"")),
                       st.sampled_from([b"+++ b/x", b"--- a/x", b"@@ -1 +1 @@", b"diff --git a/x b/x",
                                        b"\\ No newline at end of file", b" ", b"-", b"+"]))
_text = st.lists(_text_line, max_size=12).flatmap(
    lambda lines: st.sampled_from([b"\n", b""]).map(lambda end: b"\n".join(lines) + (end if lines else b"")))
_binary = st.binary(min_size=1, max_size=60).map(lambda b: b"\x00" + b)
_content = st.one_of(_text, _text, _binary)
# git itself refuses NUL in messages and "<", ">", newline in identities.
_message = st.binary(max_size=80).map(lambda b: b.replace(b"\x00", b""))
_ident_part = st.binary(min_size=1, max_size=16).map(
    lambda b: bytes(c for c in b if c not in b"<>\n\x00").strip() or b"x")


@st.composite
def _history(draw) -> list[dict]:
    """Commits: each with an author, a time, a message and file operations."""
    paths = draw(_paths())
    commits = []
    alive: set[bytes] = set()
    for _ in range(draw(st.integers(1, 4))):
        ops = []
        for path in paths:
            action = draw(st.sampled_from(["keep", "write", "write", "delete"]))
            if action == "write":
                ops.append(("M", path, draw(_content)))
                alive.add(path)
            elif action == "delete" and path in alive:
                ops.append(("D", path, b""))
                alive.discard(path)
        commits.append({"name": draw(_ident_part), "email": draw(_ident_part),
                        "time": draw(st.integers(0, 4_000_000_000)), "message": draw(_message),
                        "ops": ops})
    return commits


def _quote(path: bytes) -> bytes:
    """A path in fast-import's C-style quoting, every unusual byte as an octal escape."""
    out = bytearray(b'"')
    for c in path:
        if c in b'"\\':
            out += b"\\" + bytes([c])
        elif 0x20 <= c < 0x7f:
            out.append(c)
        else:
            out += b"\\%03o" % c
    return bytes(out + b'"')


def _build(path, commits: list[dict]) -> None:
    git(path.parent, "init", "-q", "--bare", "-b", "main", str(path))
    stream: list[bytes] = []

    def data(payload: bytes) -> None:
        stream.extend([b"data %d\n" % len(payload), payload, b"\n"])

    for commit in commits:
        ident = commit["name"] + b" <" + commit["email"] + b"> %d +0000\n" % commit["time"]
        stream.extend([b"commit refs/heads/main\n", b"author " + ident, b"committer " + ident])
        data(commit["message"])
        for op, file_path, content in commit["ops"]:
            if op == "D":
                stream.append(b"D " + _quote(file_path) + b"\n")
            else:
                stream.append(b"M 100644 inline " + _quote(file_path) + b"\n")
                data(content)
        stream.append(b"\n")
    stream.append(b"done\n")
    git(path, "fast-import", "--quiet", "--done", input=b"".join(stream))


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _git_numstat(path, commit: str) -> dict[str, tuple[str, str]]:
    """{path: (added, deleted)} of one commit as `git log --numstat -z --no-renames` says."""
    raw = git(path, "-c", "core.quotePath=false", "log", "-1", "--no-renames", "--numstat", "-z",
              "--format=", commit)
    out: dict[str, tuple[str, str]] = {}
    for record in raw.lstrip(b"\n").split(b"\x00"):
        record = record.lstrip(b"\n")
        if record:
            added, deleted, name = record.split(b"\t", 2)
            # Paths that are not UTF-8 keep their odd bytes as \xNN (two such paths
            # that differ only there are two files).
            out[name.decode("utf-8", "backslashreplace")] = (added.decode(), deleted.decode())
    return out


def _git_commit(path, commit: str) -> dict[str, object]:
    fields = git(path, "log", "-1", "--format=%aN%x00%aE%x00%at%x00%B", commit).split(b"\x00", 3)
    return {"author_name": _decode(fields[0]), "author_email": _decode(fields[1]),
            "author_time": int(fields[2]), "message": _decode(fields[3]).rstrip("\n")}


# Found by this test: two paths that differ only in bytes that are not UTF-8 were one file.
_TWO_NON_UTF8_PATHS = [{"name": b"a", "email": b"a", "time": 0, "message": b"m",
                        "ops": [("M", b"f\xfe", b"\x00binary"), ("M", b"f\xff", b"")]}]


@REPO_SETTINGS
@given(history=_history())
@example(history=_TWO_NON_UTF8_PATHS)
def test_mining_any_history_gives_what_git_itself_reports(tmp_path_factory, history):
    path = tmp_path_factory.mktemp("prop") / "repo.git"
    _build(path, history)
    hashes = reachable_commits(str(path), "HEAD")
    mined = {c.hash: c for c in stream_commits(str(path), hashes)}

    assert len(mined) == int(git(path, "rev-list", "--count", "HEAD")) == len(history)
    for commit_hash, commit in mined.items():
        assert {"author_name": commit.author_name, "author_email": commit.author_email,
                "author_time": commit.author_time, "message": commit.message} == \
            _git_commit(path, commit_hash)
        ours = {f.path: ("-", "-") if f.is_binary else (str(f.added), str(f.deleted))
                for f in commit.files}
        assert ours == _git_numstat(path, commit_hash)


# --- synthetic streams --------------------------------------------------------------------

_hex = st.text("0123456789abcdef", min_size=40, max_size=40).map(str.encode)
_field = st.binary(max_size=12)
_header = st.builds(
    lambda h, p, fields, t1, t2: b"\x00" + h + b"\x00" + p + b"\x00" + fields[0] + b"\x00" + fields[1]
    + b"\x00" + t1 + b"\x00" + fields[2] + b"\x00" + fields[3] + b"\x00" + t2 + b"\x00" + fields[4]
    + b"\x00\n",
    st.one_of(_hex, st.binary(min_size=40, max_size=40), _field), st.one_of(_hex, _field),
    st.lists(_field, min_size=5, max_size=5),
    st.one_of(st.integers(0, 2**40).map(lambda n: b"%d" % n), _field),
    st.one_of(st.integers(0, 2**40).map(lambda n: b"%d" % n), _field))
_line = st.one_of(
    _header,
    st.builds(lambda rest: b"diff --git " + rest + b"\n", st.one_of(
        _field.map(lambda p: b"a/" + p + b" b/" + p), _field)),
    st.builds(lambda a, b, c, d, f: b"@@ -%d,%d +%d,%d @@ " % (a, b, c, d) + f + b"\n",
              st.integers(0, 9), st.integers(0, 4), st.integers(0, 9), st.integers(0, 4), _field),
    st.builds(lambda x: b"index " + x + b"\n", st.one_of(
        st.builds(lambda a, b: a[:7] + b".." + b[:7] + b" 100644", _hex, _hex), _field)),
    st.sampled_from([b"new file mode 100644\n", b"deleted file mode 100644\n",
                     b"Binary files a/x and b/x differ\n", b"GIT binary patch\n",
                     b"\\ No newline at end of file\n", b"\n"]),
    st.builds(lambda sign, body: sign + body + b"\n", st.sampled_from([b"+", b"-", b" "]), _field),
    st.binary(max_size=30),
)


@STREAM_SETTINGS
@given(lines=st.lists(_line, max_size=30))
def test_any_stream_is_read_or_refused_with_a_git_log_error(lines):
    try:
        commits = list(parse_log(lines))
    except GitLogError:
        return
    for commit in commits:
        assert len(commit.hash) in (40, 64)
        for change in commit.files:
            assert change.added >= 0 and change.deleted >= 0


@pytest.mark.parametrize("cut", [1, 5, 20, 57, 200])
def test_a_real_stream_cut_anywhere_is_read_or_refused_cleanly(tmp_path, cut):
    path = tmp_path / "repo.git"
    _build(path, [{"name": b"A", "email": b"a@x", "time": 1, "message": b"one\n\nbody",
                   "ops": [("M", b"f a\tb", b"x\ny\n"), ("M", b"d\xff/fbin", b"\x00\x01")]},
                  {"name": b"B", "email": b"b@x", "time": 2, "message": b"two",
                   "ops": [("M", b"f a\tb", b"x\nz\n"), ("D", b"d\xff/fbin", b"")]}])
    from ades.mining.gitlog import log_command

    proc = subprocess.run(log_command(str(path)), input="\n".join(reachable_commits(str(path), "HEAD"))
                          .encode(), capture_output=True, check=True)
    lines = proc.stdout.splitlines(keepends=True)
    with contextlib.suppress(GitLogError):
        list(parse_log(lines[:cut]))

"""Scripted git repositories for tests, and the ground truth of SPEC §9 computed by git itself.

- `RepoBuilder` drives `git` (never through a shell) with fixed identities and dates, so the same
  script yields the same commit hashes on every run and machine.
- `make_realistic_repo` builds a ~50-commit history full of the cases that break git parsers.
- `make_linear_repo` builds thousands of commits in a second or two with `git fast-import`.
- `git_truth` computes what `ades stats --json` must report, using git's own commands.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "DEFAULT_AUTHOR",
    "RepoBuilder",
    "git",
    "git_env",
    "git_truth",
    "make_linear_repo",
    "make_realistic_repo",
]

DEFAULT_AUTHOR = ("ADES Test", "test@example.com")
_START = 1_641_200_400  # 2022-01-03T09:00:00Z, a Monday
_DEFAULT_STEP = 3600


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without the variables that would redirect git or pull in user/system config."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in ("GIT_EXEC_PATH",)
    }
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
    )
    if extra:
        env.update(extra)
    return env


def git(
    cwd: str | os.PathLike[str],
    *args: str,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> bytes:
    """Run git in `cwd` with an isolated configuration; returns stdout bytes."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=input,
        env=git_env(env),
        capture_output=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed ({proc.returncode}): "
            f"{proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    return proc.stdout


def _git_date(value: int | str | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, int):
        return f"@{value} +0000"
    return value


def _safe_ref(name: str) -> str:
    if not name or name.startswith("-"):
        raise ValueError(f"bad ref name {name!r}")
    return name


class RepoBuilder:
    """Scripts a git repository deterministically.

    Every write/remove/rename is staged at once; `commit` records the index. Dates default to a
    fixed clock that advances one hour per commit, identities to DEFAULT_AUTHOR.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / ".git").exists():
            self.git("init", "-q", "-b", "main")
        for key, value in (
            ("user.name", DEFAULT_AUTHOR[0]),
            ("user.email", DEFAULT_AUTHOR[1]),
            ("core.autocrlf", "false"),
            ("core.filemode", "true"),
            ("core.symlinks", "true"),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
            ("merge.renames", "true"),
            ("gc.auto", "0"),
        ):
            self.git("config", key, value)
        self._clock = _START

    # -- plumbing ---------------------------------------------------------------------------

    def git(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        return git(self.path, *args, input=input, env=env, check=check)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").decode().strip()

    def rev(self, ref: str) -> str:
        raw = self.git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
        return raw.decode().strip()

    def _identity_env(self, author, date, committer=None, committer_date=None) -> dict[str, str]:
        if date is None:
            self._clock += _DEFAULT_STEP
            date = self._clock
        author = author or DEFAULT_AUTHOR
        committer = committer or author
        return {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_AUTHOR_DATE": _git_date(date),
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
            "GIT_COMMITTER_DATE": _git_date(committer_date if committer_date is not None else date),
        }

    # -- working tree -----------------------------------------------------------------------

    def write(self, relpath: str, content: str | bytes, mode: int | None = None) -> None:
        """Write a file (parents created) and stage it; `mode` e.g. 0o755 sets permissions."""
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        data = content.encode("utf-8") if isinstance(content, str) else content
        target.write_bytes(data)
        if mode is not None:
            target.chmod(mode)
        self.git("add", "--", relpath)

    def chmod(self, relpath: str, mode: int) -> None:
        (self.path / relpath).chmod(mode)
        self.git("add", "--", relpath)

    def symlink(self, relpath: str, target: str) -> None:
        link = self.path / relpath
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(target, link)
        self.git("add", "--", relpath)

    def remove(self, relpath: str) -> None:
        self.git("rm", "-q", "--", relpath)

    def rename(self, old: str, new: str) -> None:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", "--", old, new)

    def read(self, relpath: str) -> bytes:
        return (self.path / relpath).read_bytes()

    # -- history ----------------------------------------------------------------------------

    def commit(
        self,
        message: str | bytes,
        author: tuple[str, str] | None = None,
        date: int | str | datetime | None = None,
        allow_empty: bool = False,
        committer: tuple[str, str] | None = None,
        committer_date: int | str | datetime | None = None,
    ) -> str:
        """Commit the index with `message` verbatim (whitespace cleanup only); returns the hash."""
        msg = message.encode("utf-8") if isinstance(message, str) else message
        args = ["commit", "-q", "--no-verify", "--cleanup=whitespace", "-F", "-"]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args, input=msg, env=self._identity_env(author, date, committer, committer_date))
        return self.head()

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("branch", _safe_ref(name), _safe_ref(start))

    def checkout(self, name: str, create: bool = False) -> None:
        if create:
            self.git("checkout", "-q", "-b", _safe_ref(name))
        else:
            self.git("checkout", "-q", _safe_ref(name))

    def merge(
        self,
        branch: str,
        message: str,
        no_ff: bool = True,
        author: tuple[str, str] | None = None,
        date: int | str | datetime | None = None,
        resolve: dict[str, str | bytes] | None = None,
    ) -> str:
        """Merge `branch` into the current branch; returns the merge commit (or new HEAD on ff).

        `resolve` maps paths to the content written before the merge commit is made: the
        resolution of conflicted files and/or extra changes of the merge commit itself.
        """
        env = self._identity_env(author, date)
        args = ["merge", "-q", "--no-commit", "--no-edit"]
        args.append("--no-ff" if no_ff else "--ff")
        args.append(_safe_ref(branch))
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=git_env(env), capture_output=True, check=False
        )
        merging = (self.path / ".git" / "MERGE_HEAD").exists()
        if proc.returncode != 0 and not (merging and resolve):
            detail = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
            raise RuntimeError(f"git merge {branch} failed: {detail}")
        for relpath, content in (resolve or {}).items():
            self.write(relpath, content)
        if not merging:  # fast-forward
            return self.head()
        self.git(
            "commit",
            "-q",
            "--no-verify",
            "--cleanup=whitespace",
            "-F",
            "-",
            input=message.encode("utf-8"),
            env=env,
        )
        return self.head()

    def revert(
        self,
        commit: str,
        author: tuple[str, str] | None = None,
        date: int | str | datetime | None = None,
    ) -> str:
        """`git revert` with git's own message: 'Revert "..."' + 'This reverts commit <hash>.'"""
        self.git("revert", "--no-edit", _safe_ref(commit), env=self._identity_env(author, date))
        return self.head()

    def tag(
        self,
        name: str,
        message: str | None = None,
        ref: str = "HEAD",
        tagger: tuple[str, str] | None = None,
        date: int | str | datetime | None = None,
    ) -> None:
        if message is None:
            self.git("tag", _safe_ref(name), _safe_ref(ref))
        else:
            self.git(
                "tag",
                "-a",
                "-F",
                "-",
                _safe_ref(name),
                _safe_ref(ref),
                input=message.encode("utf-8"),
                env=self._identity_env(tagger, date),
            )


# ------------------------------------------------------------------------------------------
# The realistic repository
# ------------------------------------------------------------------------------------------

ALICE_OLD = ("Alice Martin", "alice.martin@oldcorp.example")
ALICE_OLD_CASE = ("alice", "Alice.Martin@OldCorp.example")  # .mailmap matches emails caselessly
ALICE = ("Alice Martin", "alice@example.com")
BOB = ("Bob Chen", "bob@example.com")
BOB_CASE = ("Bob Chen", "Bob@Example.com")  # not in .mailmap: a distinct email for git
CAROL = ("Carol Díaz", "carol@example.org")
DMITRI = ("Дмитрий Иванов", "dmitri@example.net")
BOT = ("renovate[bot]", "bot@renovate.example")

TAB_PATH = "data/tab\there.txt"
QUOTE_PATH = 'data/say "hi".txt'
SPACE_PATH = "docs/design notes/architecture overview.md"
RESUME_PATH = "docs/résumé.md"
JAPANESE_PATH = "src/日本語.py"

MAILMAP = "Alice Martin <alice@example.com> <alice.martin@oldcorp.example>\n"

HTTP_CLIENT_V1 = '''"""HTTP client with retries."""

import random
import time

import requests


class RetryError(Exception):
    """Raised when every attempt failed."""


def get_with_retry(session, url, attempts=5, base_delay=0.2, timeout=10):
    """GET `url`, retrying connection errors with exponential backoff and jitter."""
    for attempt in range(attempts):
        try:
            response = session.get(url, timeout=timeout)
            response.raise_for_status()
            return response
        except requests.ConnectionError as exc:
            if attempt == attempts - 1:
                raise RetryError(f"giving up on {url}") from exc
            time.sleep(base_delay * 2**attempt + random.uniform(0, base_delay))
    raise RetryError(url)
'''

HTTP_CLIENT_V2 = HTTP_CLIENT_V1.replace(
    "            response.raise_for_status()\n",
    "            if response.status_code == 429:\n"
    '                delay = float(response.headers.get("Retry-After", base_delay))\n'
    "                time.sleep(delay)\n"
    "                continue\n"
    "            response.raise_for_status()\n",
)

HTTP_CLIENT_V3 = HTTP_CLIENT_V2.replace(
    "except requests.ConnectionError as exc:",
    "except (requests.ConnectionError, requests.Timeout) as exc:",
)

# renamed to src/app/http.py with a few edits: still similar enough for git's rename detection
HTTP_V4 = HTTP_CLIENT_V3.replace('"""HTTP client with retries."""', '"""HTTP helpers."""').replace(
    "attempts=5", "attempts=6"
)

UTILS = '''"""Small helpers."""


def chunked(items, size):
    """Yield lists of at most `size` items."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def slugify(text):
    return "-".join(text.lower().split())
'''

DB_PY = '''"""Database access with transactions and parameterized queries."""

import sqlite3
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection):
    """Commit on success, roll back on any error."""
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        cur.close()


def find_user(conn, email):
    with transaction(conn) as cur:
        cur.execute("SELECT id, name FROM users WHERE email = ?", (email,))
        return cur.fetchone()
'''

DB_PY_V2 = (
    DB_PY
    + """

def add_user(conn, name, email):
    with transaction(conn) as cur:
        cur.execute("INSERT INTO users (name, email) VALUES (?, ?)", (name, email))
        return cur.lastrowid
"""
)

CACHE_V1 = '''"""An LRU cache with a time-to-live."""

import threading
import time
from collections import OrderedDict


class TTLCache:
    def __init__(self, maxsize=1024, ttl=60.0):
        self.maxsize = maxsize
        self.ttl = ttl
        self._data = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            item = self._data.get(key)
            if item is None or item[1] < time.monotonic():
                self._data.pop(key, None)
                return default
            self._data.move_to_end(key)
            return item[0]

    def set(self, key, value):
        with self._lock:
            self._data[key] = (value, time.monotonic() + self.ttl)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
'''

CACHE_V2 = (
    CACHE_V1
    + """
    def __len__(self):
        with self._lock:
            return len(self._data)
"""
)

GO_MAIN = """package main

import (
\t"context"
\t"fmt"
\t"log"
\t"sync"
)

type job struct {
\tID   int
\tPath string
}

func process(ctx context.Context, j job) error {
\tif j.Path == "" {
\t\treturn fmt.Errorf("job %d: %w", j.ID, errEmptyPath)
\t}
\treturn nil
}

var errEmptyPath = fmt.Errorf("empty path")

func main() {
\tctx := context.Background()
\tjobs := make(chan job)
\tresults := make(chan error)
\tvar wg sync.WaitGroup
\tfor w := 0; w < 4; w++ {
\t\twg.Add(1)
\t\tgo func() {
\t\t\tdefer wg.Done()
\t\t\tfor j := range jobs {
\t\t\t\tresults <- process(ctx, j)
\t\t\t}
\t\t}()
\t}
\tgo func() {
\t\tfor i := 0; i < 10; i++ {
\t\t\tjobs <- job{ID: i, Path: fmt.Sprintf("file-%d", i)}
\t\t}
\t\tclose(jobs)
\t\twg.Wait()
\t\tclose(results)
\t}()
\tfor err := range results {
\t\tif err != nil {
\t\t\tlog.Printf("worker: %v", err)
\t\t}
\t}
}
"""

GO_MAIN_V2 = (
    GO_MAIN.replace("for w := 0; w < 4; w++", "for w := 0; w < workers(); w++")
    + """
func workers() int {
\treturn 8
}
"""
)

SCHEMA_SQL = """CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    total_cents INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""

SCHEMA_SQL_V2 = (
    SCHEMA_SQL
    + """
CREATE INDEX idx_orders_user_id ON orders (user_id);
CREATE INDEX idx_orders_created_at ON orders (created_at DESC);
"""
)

MIGRATION_SQL = """-- 002: speed up the order history page
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_user_created
    ON orders (user_id, created_at DESC);
"""

DOCKERFILE = """# syntax=docker/dockerfile:1
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml ./
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"]
ENTRYPOINT ["python", "-m", "app"]
"""

CI_YAML = """name: ci
on:
  push:
    branches: [main]
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: postgres
        ports: ["5432:5432"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: pip install -e .[dev]
      - run: pytest -q
"""

CI_YAML_V2 = CI_YAML.replace(
    "      - run: pytest -q\n",
    "      - run: ruff check .\n      - run: pytest -q --maxfail=1\n",
)

CONFIG_YAML = """server:
  host: 0.0.0.0
  port: 8080
http:
  timeout: 30
  retries: 5
cache:
  ttl: 60
"""

APP_JS = """import { useEffect, useState } from "react";

export function useCommits(repo) {
  const [commits, setCommits] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    const controller = new AbortController();
    fetch(`/api/repositories/${encodeURIComponent(repo)}/commits`, { signal: controller.signal })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
      .then((data) => setCommits(data.commits))
      .catch((e) => {
        if (e.name !== "AbortError") setError(e);
      });
    return () => controller.abort();
  }, [repo]);
  return { commits, error };
}
"""

APP_JS_V2 = APP_JS.replace("setCommits(data.commits)", "setCommits(data.commits ?? [])")

VENDOR_JS = "/*! tinylib v1.2.0 | MIT */\n" + "".join(
    f"!function(n,t){{var e{i}=function(r){{return r*{i}+t.length}};n.f{i}=e{i}}}(window,[]);\n"
    for i in range(40)
)
VENDOR_JS_V2 = VENDOR_JS.replace("v1.2.0", "v1.3.1").replace("return r*7+", "return r*7|0+")

PACKAGE_JSON = """{
  "name": "web",
  "private": true,
  "dependencies": {
    "react": "^18.2.0"
  }
}
"""


def _package_lock(react: str, extra: int) -> str:
    lines = ["{", '  "name": "web",', '  "lockfileVersion": 3,', '  "packages": {']
    deps = [("react", react), ("loose-envify", "1.4.0"), ("js-tokens", "4.0.0")]
    deps += [(f"dep-{i:03d}", f"1.{i}.0") for i in range(extra)]
    for i, (name, version) in enumerate(deps):
        comma = "," if i < len(deps) - 1 else ""
        lines += [
            f'    "node_modules/{name}": {{',
            f'      "version": "{version}",',
            f'      "resolved": "https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",',
            f'      "integrity": "sha512-{name}{version}"',
            f"    }}{comma}",
        ]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


JAPANESE_V1 = '''"""日本語のモジュール。"""


def 挨拶(名前):
    return f"こんにちは、{名前}さん"
'''

PATCH_EXAMPLES = """How to read a patch
===================

A patch produced by git looks like this:

diff --git a/hello.txt b/hello.txt
index 3b18e51..a042389 100644
--- a/hello.txt
+++ b/hello.txt
@@ -1 +1 @@
-hello world
+hello, world
"""

PATCH_EXAMPLES_V2 = (
    PATCH_EXAMPLES
    + """
A second hunk:

@@ -10,3 +10,4 @@ def main():
--- not a header, a removed line starting with two dashes
+++ not a header, an added line starting with two pluses
diff --git a/b b/b
"""
)


def _big_csv(rows: int, salt: int = 0) -> str:
    out = ["id,name,value,ratio"]
    for i in range(rows):
        value = (i * 7919 + salt * (i % 3 == 0)) % 10007
        out.append(f"{i},item-{i:05d},{value},{value / 10007:.6f}")
    return "\n".join(out) + "\n"


def _png(variant: int) -> bytes:
    rng = random.Random(variant)
    body = bytes(rng.randrange(256) for _ in range(600))
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
        + body
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def _when(day: int, hour: int = 10, minute: int = 0, tz_hours: float = 0) -> str:
    """ISO-8601 wall-clock time `hour:minute`, `day` days after the start, at a UTC offset."""
    tz = timezone(timedelta(hours=tz_hours))
    start = datetime.fromtimestamp(_START, UTC).date()
    local = datetime(start.year, start.month, start.day, hour, minute, tzinfo=tz)
    return (local + timedelta(days=day)).isoformat()


ODD_MESSAGE = (
    "chore: odd \x01 bytes\tand\ttabs, literal %x00 %n %H %(trailers) and \\0\n"
    "\n"
    "Body with \x1e record and \x1f unit separators, \x02\x03, a bell \x07,\n"
    "an escape \x1b[31mred\x1b[0m and DEL \x7f.\n"
    "A pasted patch and a fake header must not confuse a parser:\n"
    "commit 0123456789abcdef0123456789abcdef01234567\n"
    "diff --git a/fake.txt b/fake.txt\n"
    "--- a/fake.txt\n"
    "+++ b/fake.txt\n"
    "@@ -1 +1 @@\n"
    "-old\n"
    "+new\n"
)


def make_realistic_repo(path: str | os.PathLike[str]) -> Path:
    """A ~55-commit, two-year history with every case that trips up a git history parser."""
    r = RepoBuilder(path)

    # --- 2022 Q1: the project starts ------------------------------------------------------
    r.write("README.md", "# orders\n\nOrder service.\n")
    r.write(".gitignore", "__pycache__/\n*.pyc\nnode_modules/\n.venv/\n")
    r.write("pyproject.toml", '[project]\nname = "orders"\nversion = "0.1.0"\n')
    r.write("CHANGELOG.md", "# Changelog\n")
    r.write("docs/old.md", "Old notes, to be deleted.\n")
    r.commit("Initial commit", author=ALICE_OLD, date=_when(0, 9))

    r.write("src/app/__init__.py", "")  # an empty file added
    r.write("src/app/http_client.py", HTTP_CLIENT_V1)
    r.write("src/app/utils.py", UTILS)
    r.commit(
        "feat(http): add HTTP client with retry and exponential backoff",
        author=ALICE_OLD,
        date=_when(3, 14, 30),
    )

    r.write("cmd/worker/main.go", GO_MAIN)
    r.write("go.mod", "module example.com/orders\n\ngo 1.21\n")
    r.commit("Add Go worker pool with goroutines and channels", author=BOB, date=_when(8, 11))

    r.write("db/schema.sql", SCHEMA_SQL)
    r.write("src/app/db.py", DB_PY)
    r.commit(
        "feat(db): schema, transactions and parameterized queries",
        author=CAROL,
        date=_when(15, 16, 5, tz_hours=-3),
    )

    r.write("Dockerfile", DOCKERFILE)
    r.write(".github/workflows/ci.yml", CI_YAML)
    r.commit("build: multi-stage Dockerfile and CI workflow", author=BOB, date=_when(22, 10))

    r.write("web/app.js", APP_JS)
    r.write("web/package.json", PACKAGE_JSON)
    r.write("web/package-lock.json", _package_lock("18.2.0", 30))
    r.write("vendor/lib.js", VENDOR_JS)
    r.commit(
        "Add web frontend hook and vendored tinylib", author=DMITRI, date=_when(29, 13, tz_hours=3)
    )

    r.write(".mailmap", MAILMAP)
    r.write("config.yaml", CONFIG_YAML)
    r.commit("chore: add .mailmap and config", author=ALICE, date=_when(36, 9, 45))

    r.write(RESUME_PATH, "# Résumé du projet\n\nUn service de commandes.\n")
    r.write(JAPANESE_PATH, JAPANESE_V1)
    r.commit(
        "docs: ajouter le résumé — 日本語 サポート ✓",
        author=CAROL,
        date=_when(43, 18, tz_hours=1),
    )

    r.write(SPACE_PATH, "# Architecture\n\nThe worker pulls jobs from a channel.\n")
    r.write(TAB_PATH, "first\n")
    r.write(QUOTE_PATH, 'He said "hi".\n')
    r.commit("docs: design notes; odd file names", author=DMITRI, date=_when(50, 12, tz_hours=3))

    r.write("docs/patch-examples.txt", PATCH_EXAMPLES)
    r.commit("docs: explain how to read a patch", author=BOB, date=_when(57, 15))

    r.commit("chore: trigger CI", author=BOB, date=_when(58, 8), allow_empty=True)

    # --- 2022 Q2-Q3 -----------------------------------------------------------------------
    r.write("data/big.csv", _big_csv(6500))
    r.commit("data: add the product catalogue export (6500 rows)", author=CAROL, date=_when(64, 10))

    r.write("docs/no-newline.txt", "this file has no trailing newline\nsecond line")
    r.write("scripts/run.bat", "@echo off\r\nset APP_ENV=dev\r\npython -m app\r\n")
    r.write("scripts/deploy.sh", "#!/bin/sh\nset -eu\ndocker compose up -d\n")
    r.commit("Add helper scripts", author=ALICE, date=_when(71, 17))

    r.symlink("current-schema.sql", "db/schema.sql")
    r.commit("chore: symlink the current schema", author=BOB, date=_when(78, 10))

    r.chmod("scripts/deploy.sh", 0o755)
    r.commit("chore: make deploy.sh executable", author=BOB, date=_when(79, 10))

    r.write("assets/logo.png", _png(1))
    r.commit("Add logo", author=DMITRI, date=_when(85, 11))

    r.write("src/app/http_client.py", HTTP_CLIENT_V2)
    r.commit(
        "fix(http): honour Retry-After on 429 responses\n\nFixes #12\n",
        author=ALICE,
        date=_when(92, 10),
    )

    r.write(
        JAPANESE_PATH,
        r.read(JAPANESE_PATH) + '\n\ndef さようなら():\n    return "さようなら"\n'.encode(),
    )
    r.write(TAB_PATH, "first\nsecond\n")
    r.commit("feat: more greetings", author=CAROL, date=_when(99, 9))

    r.write("assets/logo.png", _png(2))
    r.write("CHANGELOG.md", "# Changelog\n\n## 0.2.0\n- retries honour Retry-After\n")
    r.commit("Refresh logo colours", author=DMITRI, date=_when(106, 14))

    # --- a feature branch merged with --no-ff -----------------------------------------------
    r.checkout("feature/cache", create=True)
    r.write("src/app/cache.py", CACHE_V1)
    r.commit("feat(cache): TTL LRU cache", author=BOB, date=_when(110, 10))
    r.write(
        "tests/test_cache.py",
        "from app.cache import TTLCache\n\n\ndef test_set_get():\n"
        "    c = TTLCache()\n    c.set('a', 1)\n    assert c.get('a') == 1\n",
    )
    r.commit("test(cache): cover set/get", author=BOB, date=_when(111, 11))
    r.write("src/app/cache.py", CACHE_V2)
    r.commit("feat(cache): __len__", author=BOB_CASE, date=_when(112, 9))

    r.checkout("main")
    r.write("src/app/db.py", DB_PY_V2)
    r.commit("feat(db): add_user", author=CAROL, date=_when(113, 16))
    r.write(SPACE_PATH, r.read(SPACE_PATH) + b"\nA TTL cache sits in front of the database.\n")
    r.commit("docs: mention the cache", author=DMITRI, date=_when(114, 10, tz_hours=3))
    r.merge("feature/cache", "Merge branch 'feature/cache'", author=ALICE, date=_when(115, 12))
    r.tag("v0.3.0", "Release 0.3.0\n", tagger=ALICE, date=_when(115, 13))

    # --- renames and a deletion --------------------------------------------------------------
    r.rename("src/app/utils.py", "src/app/helpers.py")
    r.commit("refactor: rename utils to helpers", author=ALICE_OLD_CASE, date=_when(127, 10))

    r.write("src/app/http_client.py", HTTP_CLIENT_V3)
    r.commit("fix: retry on timeouts too", author=ALICE, date=_when(134, 10))

    r.rename("src/app/http_client.py", "src/app/http.py")
    r.write("src/app/http.py", HTTP_V4)
    r.commit(
        "refactor(http): move http_client to http, one more attempt",
        author=ALICE,
        date=_when(141, 15),
    )

    r.remove("docs/old.md")
    r.commit("docs: drop obsolete notes", author=CAROL, date=_when(148, 10))

    r.write("data/big.csv", _big_csv(6510, salt=5))
    r.commit("data: refresh catalogue export", author=CAROL, date=_when(155, 10))

    r.write("docs/patch-examples.txt", PATCH_EXAMPLES_V2)
    r.write(TAB_PATH, "first\nsecond\nthird\n")
    r.commit(ODD_MESSAGE, author=DMITRI, date=_when(162, 23, 59, tz_hours=-8))

    # --- a revert ----------------------------------------------------------------------------
    r.write("config.yaml", CONFIG_YAML + "experimental:\n  turbo: true\n")
    flag = r.commit("feat: enable experimental turbo mode", author=BOB, date=_when(169, 10))
    r.revert(flag, author=ALICE, date=_when(170, 9))

    r.write("web/package-lock.json", _package_lock("18.3.1", 31))
    r.write("web/package.json", PACKAGE_JSON.replace("^18.2.0", "^18.3.1"))
    r.commit("chore(deps): update dependency react to v18.3.1", author=BOT, date=_when(176, 4))

    r.write("vendor/lib.js", VENDOR_JS_V2)
    r.commit("chore: bump vendored tinylib to 1.3.1", author=DMITRI, date=_when(183, 10))

    # --- 2023: a merge with a conflict resolved by hand (with its own extra change) ----------
    r.checkout("fix/timeout", create=True)
    r.write("config.yaml", CONFIG_YAML.replace("timeout: 30", "timeout: 60"))
    r.commit("fix: raise HTTP timeout to 60s\n\nFixes #31\n", author=BOB, date=_when(260, 10))
    r.write(TAB_PATH, "first\nsecond\nthird\nfourth (from the fix branch)\n")
    r.commit("data: note from the fix branch", author=BOB, date=_when(261, 10))

    r.checkout("main")
    r.write("config.yaml", CONFIG_YAML.replace("timeout: 30", "timeout: 45"))
    r.commit("perf: lower HTTP timeout to 45s", author=CAROL, date=_when(262, 11))
    r.write("CHANGELOG.md", r.read("CHANGELOG.md") + b"\n## 0.3.0\n- TTL cache\n")
    r.commit("docs: changelog for 0.3.0", author=ALICE, date=_when(263, 9))
    r.merge(
        "fix/timeout",
        "Merge branch 'fix/timeout'\n\nConflicts:\n\tconfig.yaml\n",
        author=ALICE,
        date=_when(264, 10),
        resolve={
            "config.yaml": CONFIG_YAML.replace("timeout: 30", "timeout: 50"),
            "CHANGELOG.md": r.read("CHANGELOG.md") + b"- timeout is 50s (merge resolution)\n",
        },
    )

    # --- 2023 onwards: steady work -----------------------------------------------------------
    r.write("db/schema.sql", SCHEMA_SQL_V2)
    r.write("db/migrations/002_orders_index.sql", MIGRATION_SQL)
    r.commit("perf(db): index orders by user and date", author=CAROL, date=_when(290, 10))

    r.write("cmd/worker/main.go", GO_MAIN_V2)
    r.write("go.sum", "example.com/dep v1.0.0 h1:abc=\nexample.com/dep v1.0.0/go.mod h1:def=\n")
    r.commit("feat(worker): configurable worker count", author=BOB, date=_when(320, 10))

    r.write(".github/workflows/ci.yml", CI_YAML_V2)
    r.commit("ci: lint before tests", author=BOB, date=_when(350, 10))

    r.write("web/app.js", APP_JS_V2)
    r.commit("fix(web): tolerate a missing commits array", author=DMITRI, date=_when(380, 16))

    r.write(JAPANESE_PATH, r.read(JAPANESE_PATH) + "\n\n# 型ヒントは後で\n".encode())
    r.write(RESUME_PATH, r.read(RESUME_PATH) + "\n## Équipe\n\n- Carol\n- Дмитрий\n".encode())
    r.commit("docs: équipe et commentaires", author=CAROL, date=_when(446, 10, tz_hours=1))

    r.write(
        "tests/test_http.py",
        "from app.http import get_with_retry\n\n\n"
        "def test_import():\n    assert callable(get_with_retry)\n",
    )
    r.commit("test: smoke test for the http helpers", author=ALICE, date=_when(460, 10))

    r.write("src/app/http.py", HTTP_V4.replace("base_delay=0.2", "base_delay=0.25"))
    r.commit("Tweak backoff base delay", author=ALICE, date=_when(474, 10))

    r.write("docs/empty.md", "")
    r.write(SPACE_PATH, r.read(SPACE_PATH) + b"\nSee also docs/empty.md.\n")
    r.commit("docs: placeholder", author=DMITRI, date=_when(488, 10))

    r.symlink("current-schema.sql", "db/migrations/002_orders_index.sql")
    r.commit(
        "chore: point the schema symlink at the latest migration", author=BOB, date=_when(502, 10)
    )

    r.write(JAPANESE_PATH, r.read(JAPANESE_PATH).replace("後で".encode(), "済み".encode()))
    r.write(TAB_PATH, "first\nsecond\nthird\nfourth (from the fix branch)\nfifth\n")
    r.commit("security: escape names before logging", author=CAROL, date=_when(516, 10))

    r.write("CHANGELOG.md", r.read("CHANGELOG.md") + b"\n## 0.4.0\n- worker count\n")
    r.commit("Release 0.4.0", author=ALICE, date=_when(530, 10))
    r.tag("v0.4.0")

    r.write("scripts/run.bat", "@echo off\r\nset APP_ENV=prod\r\npython -m app\r\nexit /b 0\r\n")
    r.write("docs/no-newline.txt", "this file has no trailing newline\nsecond line, edited")
    r.commit("scripts: production env", author=BOB, date=_when(560, 10))

    r.write(QUOTE_PATH, 'He said "hi".\nShe said "bye".\n')
    r.write(SPACE_PATH, r.read(SPACE_PATH) + b"\nWorkers scale with load.\n")
    r.commit("docs: more notes", author=DMITRI, date=_when(600, 10, tz_hours=3))

    # a commit authored long before it was committed (a rebased, older change)
    r.write("src/app/db.py", DB_PY_V2.replace("SELECT id, name", "SELECT id, name, email"))
    r.commit(
        "fix(db): also return the email",
        author=CAROL,
        date=_when(590, 10),
        committer=ALICE,
        committer_date=_when(640, 10),
    )

    r.write("CHANGELOG.md", r.read("CHANGELOG.md") + b"\n## 0.5.0\n- email in find_user\n")
    r.write(JAPANESE_PATH, r.read(JAPANESE_PATH) + "\n\n# 完了\n".encode())
    r.commit("Release 0.5.0 🎉", author=ALICE, date=_when(700, 10))

    r.write("README.md", "# orders\n\nOrder service with a Go worker and a web UI.\n")
    r.commit("docs: README", author=BOB, date=_when(720, 10))
    return r.path


# ------------------------------------------------------------------------------------------
# Large linear histories with git fast-import
# ------------------------------------------------------------------------------------------

_LINEAR_AUTHORS = [
    ("Alice Martin", "alice@example.com"),
    ("Bob Chen", "bob@example.com"),
    ("Carol Díaz", "carol@example.org"),
    ("Dmitri Ivanov", "dmitri@example.net"),
    ("Erin O'Neil", "erin@example.com"),
    ("Farid Haddad", "farid@example.com"),
]
_LINEAR_EXT = [".py", ".go", ".js", ".sql", ".md", ".yaml"]
_LINEAR_DIRS = {
    ".py": ["src", "src/core"],
    ".go": ["cmd/tool", "internal/store"],
    ".js": ["web", "web/components"],
    ".sql": ["db"],
    ".md": ["docs"],
    ".yaml": ["config", ".github/workflows"],
}
_LINEAR_MESSAGES = [
    "fix: handle empty {thing}",
    "fix({area}): off-by-one in {thing}",
    "feat: add {thing} support",
    "feat({area}): {thing} endpoint",
    "refactor: simplify {thing}",
    "perf({area}): cache {thing}",
    "docs: document {thing}",
    "test: cover {thing}",
    "chore(deps): bump {thing}",
    "security: validate {thing}",
    "Update {thing}",
    "Fix crash when {thing} is missing\n\nFixes #{issue}\n",
    "ci: run {thing} checks",
]
_LINEAR_THINGS = [
    "retries",
    "timeouts",
    "the parser",
    "config",
    "login",
    "search",
    "exports",
    "the cache",
    "pagination",
    "uploads",
    "webhooks",
    "metrics",
]
_LINEAR_AREAS = ["api", "db", "ui", "worker", "cli"]


def _linear_line(rng: random.Random, ext: str) -> str:
    n = rng.randrange(100_000)
    if ext == ".py":
        return f"value_{n} = compute({rng.randrange(100)}, retries={rng.randrange(5)})"
    if ext == ".go":
        return f'\tif err := step{n}(ctx); err != nil {{ return fmt.Errorf("step: %w", err) }}'
    if ext == ".js":
        return f"export const v{n} = await fetchJson(`/api/items/${{{rng.randrange(100)}}}`);"
    if ext == ".sql":
        return f"SELECT id FROM t{rng.randrange(20)} WHERE k = $1 AND n > {n};"
    if ext == ".yaml":
        return f"key_{n}: {rng.randrange(1000)}"
    return f"Line {n}: notes about {rng.choice(_LINEAR_THINGS)}."


def make_linear_repo(
    path: str | os.PathLike[str], commits: int, files: int = 50, seed: int = 1
) -> Path:
    """A linear `main` of exactly `commits` commits, built with `git fast-import`.

    The first commit adds `files` files; each later one modifies 1-4 files (a few lines added
    and removed), and now and then adds a new file or deletes one. Deterministic for a seed.
    """
    if commits < 1:
        raise ValueError("commits must be >= 1")
    path = Path(path)
    RepoBuilder(path)
    rng = random.Random(seed)
    contents: dict[str, list[str]] = {}
    serial = 0

    def new_path() -> str:
        nonlocal serial
        serial += 1
        ext = _LINEAR_EXT[serial % len(_LINEAR_EXT)]
        dirs = _LINEAR_DIRS[ext]
        return f"{dirs[serial // len(_LINEAR_EXT) % len(dirs)]}/file_{serial:05d}{ext}"

    def new_content(p: str) -> list[str]:
        ext = os.path.splitext(p)[1]
        return [_linear_line(rng, ext) for _ in range(rng.randrange(5, 30))]

    out: list[bytes] = []

    def data(payload: bytes) -> None:
        out.append(b"data %d\n" % len(payload))
        out.append(payload)
        out.append(b"\n")

    when = 1_577_872_800  # 2020-01-01T10:00:00Z
    for i in range(commits):
        when += rng.randrange(600, 36 * 3600)
        name, email = rng.choice(_LINEAR_AUTHORS)
        ops: list[tuple[str, str]] = []  # ("M", path) or ("D", path)
        if i == 0:
            for _ in range(files):
                p = new_path()
                contents[p] = new_content(p)
                ops.append(("M", p))
            message = "Initial import\n"
        else:
            roll = rng.random()
            if roll < 0.05 and len(contents) > 5:
                victim = rng.choice(sorted(contents))
                del contents[victim]
                ops.append(("D", victim))
            elif roll < 0.12:
                p = new_path()
                contents[p] = new_content(p)
                ops.append(("M", p))
            for p in rng.sample(sorted(contents), min(len(contents), rng.randint(1, 4))):
                if ("M", p) in ops:
                    continue
                lines = contents[p]
                ext = os.path.splitext(p)[1]
                for _ in range(rng.randint(0, min(3, max(0, len(lines) - 3)))):
                    del lines[rng.randrange(len(lines))]
                for _ in range(rng.randint(1, 5)):
                    lines.insert(rng.randrange(len(lines) + 1), _linear_line(rng, ext))
                if len(lines) > 60:  # keep files small: trim the oldest tail
                    del lines[40:]
                ops.append(("M", p))
            message = rng.choice(_LINEAR_MESSAGES).format(
                thing=rng.choice(_LINEAR_THINGS),
                area=rng.choice(_LINEAR_AREAS),
                issue=rng.randrange(1, 500),
            )
            if not message.endswith("\n"):
                message += "\n"
        ident = f"{name} <{email}> {when} +0000\n".encode()
        out.append(b"commit refs/heads/main\n")
        out.append(b"author " + ident)
        out.append(b"committer " + ident)
        data(message.encode("utf-8"))
        for op, p in ops:
            if op == "D":
                out.append(b"D " + p.encode() + b"\n")
            else:
                out.append(b"M 100644 inline " + p.encode() + b"\n")
                data(("\n".join(contents[p]) + "\n").encode("utf-8"))
        out.append(b"\n")
    out.append(b"done\n")
    git(path, "fast-import", "--quiet", "--done", "--force", input=b"".join(out))
    git(path, "reset", "-q", "--hard", "refs/heads/main")
    return path


# ------------------------------------------------------------------------------------------
# Ground truth (SPEC §9)
# ------------------------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _decode_path(raw: bytes) -> str:
    # Paths that are not UTF-8 keep their odd bytes as \xNN, so distinct paths stay distinct.
    return raw.decode("utf-8", errors="backslashreplace")


def _parse_numstat_z(raw: bytes) -> tuple[int, int, list[str]]:
    """Sum `git log --numstat -z --format=` output; returns (added, deleted, paths seen).

    Each record is "A<TAB>D<TAB>path<NUL>", or for a rename/copy
    "A<TAB>D<TAB><NUL>old<NUL>new<NUL>"; A and D are "-" for binary files. Paths may contain
    tabs: split on the first two only.
    """
    tokens = raw.split(b"\0")
    added = deleted = 0
    paths: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip(b"\n")  # tolerate a commit separator, never present today
        i += 1
        if not token:
            continue
        parts = token.split(b"\t", 2)
        if len(parts) != 3 or not (
            (parts[0] == b"-" or parts[0].isdigit()) and (parts[1] == b"-" or parts[1].isdigit())
        ):
            raise ValueError(f"unexpected numstat record {token!r}")
        a, d, p = parts
        if p == b"":  # rename or copy: old and new paths follow
            p = tokens[i + 1]
            i += 2
        paths.append(_decode_path(p))
        if a != b"-":
            added += int(a)
        if d != b"-":
            deleted += int(d)
    return added, deleted, paths


def git_truth(path: str | os.PathLike[str]) -> dict:
    """SPEC §9 for the repository at `path`, from git's own commands.

    Keys: commits, authors, file_counts ({path: count}), lines_added, lines_deleted,
    top_files ([[path, count], ...] — 20 most changed, count desc then path asc).
    """
    commits = int(git(path, "rev-list", "--count", "HEAD").decode().strip())
    emails = {line for line in _decode(git(path, "log", "--format=%aE", "HEAD")).split("\n")}
    emails.discard("")
    names = git(
        path, "log", "--no-merges", "--no-renames", "--format=", "--name-only", "-z", "HEAD"
    )
    file_counts = Counter(_decode_path(p) for p in names.split(b"\0") if p)
    added, deleted, _ = _parse_numstat_z(
        git(path, "log", "--no-merges", "--no-renames", "--numstat", "-z", "--format=", "HEAD")
    )
    top = sorted(file_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    return {
        "commits": commits,
        "authors": len(emails),
        "file_counts": dict(file_counts),
        "lines_added": added,
        "lines_deleted": deleted,
        "top_files": [[p, c] for p, c in top],
    }

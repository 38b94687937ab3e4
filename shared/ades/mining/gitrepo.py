"""Questions asked of a git repository on disk: is it one, where is HEAD, what is reachable."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass


class RepositoryError(Exception):
    """The path is not a usable git repository; the message says why in one line."""


_GIT_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}


def run_git(repo_path: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run one git command in `repo_path` and capture its output (bytes)."""
    env = dict(os.environ, **_GIT_ENV)
    proc = subprocess.run(["git", "-C", repo_path, *args], capture_output=True, env=env)
    if check and proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RepositoryError(lines[-1] if lines else f"git {args[0]} failed")
    return proc


@dataclass(frozen=True)
class GitRepository:
    """A validated repository: its top-level path, HEAD commit and branch."""

    path: str
    head: str
    branch: str | None
    bare: bool

    @property
    def default_name(self) -> str:
        """A name for the repository derived from its directory."""
        return os.path.basename(self.path.rstrip("/")).removesuffix(".git") or "repository"


def open_repository(path: str) -> GitRepository:
    """Validate `path` as a git repository with at least one commit."""
    if not os.path.exists(path):
        raise RepositoryError(f"no such directory: {path}")
    if not os.path.isdir(path):
        raise RepositoryError(f"not a directory: {path}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise RepositoryError(f"cannot read {path}: permission denied")
    probe = run_git(path, "rev-parse", "--is-bare-repository", "--absolute-git-dir", check=False)
    if probe.returncode != 0:
        raise RepositoryError(f"not a git repository: {path}")
    bare_flag, git_dir = probe.stdout.decode("utf-8", "replace").split("\n")[:2]
    bare = bare_flag.strip() == "true"
    if bare:
        top = git_dir.strip()
    else:
        top = run_git(path, "rev-parse", "--show-toplevel").stdout.decode().strip()
    head = run_git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        raise RepositoryError(f"repository {path} has no commits yet")
    branch = run_git(top, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return GitRepository(path=top, head=head.stdout.decode().strip(),
                         branch=branch.stdout.decode().strip() or None, bare=bare)


def storage_directories(repo_path: str) -> list[str]:
    """The real paths of every directory git reads `repo_path`'s history from: its git dir,
    the common dir (worktrees) and each object store named in `objects/info/alternates`.

    A `.git` file (`gitdir: ...`), a worktree or an alternates entry can point anywhere, so a
    caller that confines repositories to some roots must check these as well as the path.
    """
    probe = run_git(repo_path, "rev-parse", "--absolute-git-dir", "--git-common-dir")
    git_dir, common = probe.stdout.decode("utf-8", "surrogateescape").split("\n")[:2]
    common_dir = os.path.join(git_dir, common) if not os.path.isabs(common) else common
    found = [os.path.realpath(git_dir), os.path.realpath(common_dir)]
    pending = [os.path.join(d, "objects") for d in found]
    seen: set[str] = set()
    while pending:  # alternates may chain; git follows up to 5 levels, we follow them all
        objects = os.path.realpath(pending.pop())
        if objects in seen:
            continue
        seen.add(objects)
        found.append(objects)
        try:
            with open(os.path.join(objects, "info", "alternates"), encoding="utf-8",
                      errors="surrogateescape") as handle:
                lines = [line.strip() for line in handle]
        except OSError:
            continue
        pending += [line if os.path.isabs(line) else os.path.join(objects, line)
                    for line in lines if line and not line.startswith("#")]
    return list(dict.fromkeys(found))


def reachable_commits(repo_path: str, head: str) -> list[str]:
    """Every commit reachable from `head`, parents before children."""
    out = run_git(repo_path, "rev-list", "--reverse", "--topo-order", head, "--").stdout
    return out.decode("ascii").split()

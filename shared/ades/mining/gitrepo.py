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


def reachable_commits(repo_path: str, head: str) -> list[str]:
    """Every commit reachable from `head`, parents before children."""
    out = run_git(repo_path, "rev-list", "--reverse", "--topo-order", head, "--").stdout
    return out.decode("ascii").split()

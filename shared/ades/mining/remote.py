"""Repositories registered by clone URL: validation, then a local mirror kept up to date.

A URL is checked before git sees it: no leading '-' in it, its host or its user (they would
read as options), no `transport::address` forms such as `ext::` (they run commands), no
control characters or whitespace, and a scheme from the configured allow-list. git is then
told the same allow-list (`protocol.allow=never` plus one `protocol.<scheme>.allow=always`
each), and every invocation separates options from arguments with `--`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from .gitrepo import RepositoryError

_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?!//)[^\s]+$")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
MAX_URL_LENGTH = 2048


def looks_like_url(text: str) -> bool:
    """True for what git would treat as a remote address rather than a local path."""
    return "://" in text or bool(_SCP_LIKE.match(text)) or bool(_TRANSPORT.match(text))


def validate_clone_url(url: str, allowed_schemes: tuple[str, ...] | list[str]) -> str:
    """Return the scheme of `url` if it may be cloned, else raise RepositoryError."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise RepositoryError("clone URL is empty or too long")
    if url.startswith("-"):
        raise RepositoryError("clone URL must not start with '-'")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise RepositoryError("clone URL must not contain whitespace or control characters")
    if _TRANSPORT.match(url):
        raise RepositoryError("clone URL uses a git transport helper (such as ext::), which is refused")
    if scp := _SCP_LIKE.match(url):
        scheme = "ssh"
        if scp["host"].startswith("-") or scp["user"].startswith("-"):
            raise RepositoryError("clone URL host and user must not start with '-'")
    else:
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:  # e.g. an unbalanced "[" in the host
            raise RepositoryError(f"not a clone URL: {url}") from None
        scheme = parts.scheme.lower()
        if not scheme or (scheme != "file" and not hostname):
            raise RepositoryError(f"not a clone URL: {url}")
        # ssh would read `-oProxyCommand=...` as an option: refused here rather than left
        # to git's own check at clone time, so such a URL is never stored.
        if (hostname or "").startswith("-") or (parts.username or "").startswith("-"):
            raise RepositoryError("clone URL host and user must not start with '-'")
    if scheme not in allowed_schemes:
        raise RepositoryError(f"clone URL scheme {scheme!r} is not allowed "
                              f"(allowed: {', '.join(allowed_schemes) or 'none'})")
    return scheme


def name_from_url(url: str) -> str:
    """A repository name derived from the last path component of `url`."""
    tail = re.split(r"[/:]", url.rstrip("/"))[-1].removesuffix(".git")
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", tail).strip(".-")
    return cleaned[:100] or "repository"


def _git(args: list[str], allowed_schemes: tuple[str, ...] | list[str]) -> None:
    protocol = ["-c", "protocol.allow=never"]
    for scheme in allowed_schemes:
        protocol += ["-c", f"protocol.{scheme}.allow=always"]
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_PROTOCOL_FROM_USER="0", LC_ALL="C",
               GIT_CONFIG_NOSYSTEM="1")
    proc = subprocess.run(["git", *protocol, *args], capture_output=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = next((x for x in reversed(lines) if x.startswith("fatal:")), lines[-1] if lines else "")
        raise RepositoryError(f"cannot fetch {args[-2] if args[0] == 'clone' else 'updates'}: "
                              f"{reason.removeprefix('fatal: ') or 'git failed'}")


def mirror_repository(url: str, dest: Path, allowed_schemes: tuple[str, ...] | list[str]) -> Path:
    """Clone `url` as a bare mirror at `dest`, or fetch into the existing mirror (force-pushes
    and deleted branches included). Returns `dest`."""
    validate_clone_url(url, allowed_schemes)
    if (dest / "HEAD").exists():
        _git(["-C", str(dest), "fetch", "--prune", "--force", "--quiet", "--", url,
              "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"], allowed_schemes)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    _git(["clone", "--mirror", "--quiet", "--", url, str(tmp)], allowed_schemes)
    tmp.rename(dest)
    return dest

"""The `ades` command line: ingest, search, stats and database maintenance.

Every failure the user can cause or meet (bad path, unknown repository, unreachable
database, bad configuration) ends in one line on stderr and a non-zero exit code, never a
traceback. Exit codes: 1 failure, 2 bad usage or input, 3 not found, 4 database unavailable,
130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from . import __version__

EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 1, 2, 3, 4, 130


class CLIError(click.ClickException):
    """A one-line error with a meaningful exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE):
        super().__init__(message)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"ades: error: {self.format_message()}", err=True)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the library's expected exceptions into one-line CLI errors."""
    from .config import ConfigError
    from .mining.gitlog import GitLogError
    from .mining.gitrepo import RepositoryError
    from .search import SearchError
    from .storage import DatabaseUnavailable, StorageError

    try:
        yield
    except ConfigError as exc:
        raise CLIError(f"configuration: {exc}", EXIT_USAGE) from exc
    except DatabaseUnavailable as exc:
        raise CLIError(str(exc), EXIT_UNAVAILABLE) from exc
    except (RepositoryError, SearchError) as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc
    except (StorageError, GitLogError) as exc:
        raise CLIError(str(exc), EXIT_FAILURE) from exc
    except KeyboardInterrupt as exc:
        raise CLIError("interrupted", EXIT_INTERRUPTED) from exc


def _config():
    from .config import load_config

    return load_config()


def _open_store(config, *, create: bool = True):
    """The configured store; with `create=False` a missing SQLite file means 'no data'."""
    from .storage import open_store

    if not config.uses_postgres and not create and not os.path.exists(config.sqlite_path):
        return None
    perf = config.performance
    return open_store(config.database_url, pool_min=1, pool_max=max(2, perf.pool_min_size),
                      statement_timeout_ms=perf.statement_timeout_ms)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _resolve_repo(store, name: str | None):
    from .storage.repositories import get_repository, list_repositories

    if store is None:
        raise CLIError(f"unknown repository: {name}" if name else "no repositories ingested yet",
                       EXIT_NOT_FOUND)
    if name:
        repo = get_repository(store, name)
        if repo is None:
            raise CLIError(f"unknown repository: {name}", EXIT_NOT_FOUND)
        return repo
    repos = list_repositories(store)
    if len(repos) == 1:
        return repos[0]
    if not repos:
        raise CLIError("no repositories ingested yet", EXIT_NOT_FOUND)
    raise CLIError("several repositories; choose one with --repo: "
                   + ", ".join(r.name for r in repos), EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ades")
def main() -> None:
    """ADES: turn a team's git history into a searchable memory of how things were done.

    Settings come from ades-config.json and GAIT_* environment variables (see the README).
    """


def _progress_printer(enabled: bool) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    state: dict[str, Any] = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if not enabled or total == 0:
            return
        if state["bar"] is None:
            state["bar"] = click.progressbar(length=total, label="ingesting", file=sys.stderr,
                                             show_pos=True, show_eta=True, width=30)
            state["bar"].__enter__()
        state["bar"].update(done - state["done"])
        state["done"] = done

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)

    return update, close


@main.command()
@click.argument("path")
@click.option("--name", help="Repository name (default: the directory name).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
def ingest(path: str, name: str | None, as_json: bool, progress: bool | None) -> None:
    """Ingest (or bring up to date) the history of the git repository at PATH.

    PATH may also be a clone URL (https, ssh, git by default; GAIT_ALLOWED_URL_SCHEMES):
    it is mirrored under $GAIT_DATA_DIR/repos and fetched again on later runs.
    Safe to interrupt and re-run: stored commits are kept and only new ones are mined.
    """
    from .mining.gitrepo import open_repository
    from .mining.ingest import ingest_repository
    from .mining.remote import looks_like_url, mirror_repository, name_from_url, validate_clone_url
    from .storage.locks import IngestBusy

    if name is not None and not _valid_name(name):
        raise CLIError(f"invalid repository name {name!r}: use 1-100 letters, digits, '.', '_' "
                       "or '-', not starting with '.' or '-'", EXIT_USAGE)
    show = sys.stderr.isatty() if progress is None else progress
    update, close = _progress_printer(show and not as_json)
    url = None
    with _user_errors():
        config = _config()
        if looks_like_url(path):
            url = path
            validate_clone_url(url, config.server.allowed_url_schemes)
            if not config.server.allow_clone_urls:
                raise CLIError("registering repositories by clone URL is disabled "
                               "(GAIT_ALLOW_CLONE_URLS)", EXIT_USAGE)
            name = name or name_from_url(url)
            path = str(mirror_repository(url, config.data_dir / "repos" / f"{name}.git",
                                         config.server.allowed_url_schemes))
        repo = open_repository(path)
        store = _open_store(config)
        try:
            result = ingest_repository(
                store, repo.path, name=name, url=url, repo=repo, progress=update,
                batch_size=config.performance.ingest_batch_size,
                shards=config.performance.ingest_shards)
        except IngestBusy as exc:
            raise CLIError(str(exc), EXIT_FAILURE) from exc
        finally:
            close()
            store.close()
    if as_json:
        _emit_json(result.to_dict())
        return
    note = f", {result.pruned_commits} pruned (history rewritten)" if result.rewritten else ""
    click.echo(f"{result.repository}: {result.new_commits} new commits{note}; "
               f"{result.total_commits} in total at {result.head[:12]} ({result.seconds:.1f}s)")


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}", name) is not None


@main.command()
@click.argument("query")
@click.option("--repo", help="Only this repository.")
@click.option("--category", help="Only this category (feature, bugfix, ...).")
@click.option("--language", help="Only experiences touching this language.")
@click.option("--author", help="Only this author (email, or part of the name).")
@click.option("--path", "path_prefix", help="Only changes under this path prefix.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="From this date (UTC).")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), help="Until this date (UTC).")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def search(query: str, repo: str | None, category: str | None, language: str | None,
           author: str | None, path_prefix: str | None, since, until, limit: int,
           as_json: bool) -> None:
    """Search experiences, e.g. ades search "retry backoff"."""
    from .analysis.classify import CATEGORIES
    from .search import SearchFilters, search_experiences
    from .storage.repositories import get_repository

    if category and category not in CATEGORIES:
        raise CLIError(f"unknown category {category!r}; one of: {', '.join(CATEGORIES)}",
                       EXIT_USAGE)
    with _user_errors():
        store = _open_store(_config(), create=False)
        if store is None:
            raise CLIError("no repositories ingested yet", EXIT_NOT_FOUND)
        try:
            if repo and get_repository(store, repo) is None:
                raise CLIError(f"unknown repository: {repo}", EXIT_NOT_FOUND)
            filters = SearchFilters(
                repo=repo, category=category, language=language, author=author,
                path_prefix=path_prefix,
                since=int(since.timestamp()) if since else None,
                until=int(until.timestamp()) + 86399 if until else None)
            results = search_experiences(store, query, filters, limit=limit)
        finally:
            store.close()
    if as_json:
        _emit_json({"query": query, "results": [r.to_dict() for r in results]})
        return
    if not results:
        click.echo("no matches", err=True)
        return
    for r in results:
        day = time.strftime("%Y-%m-%d", time.gmtime(r.date))
        click.echo(f"{r.commit[:12]}  {r.score:7.3f}  {day}  [{r.category}] {r.title}")
        click.echo(f"    {r.repository} · {r.author} · matched {r.why}")


@main.command()
@click.option("--repo", help="Repository name (optional when only one is ingested).")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(repo: str | None, as_json: bool) -> None:
    """Print the numbers that must agree with git (commits, authors, lines, top files)."""
    from .analytics import repository_stats

    with _user_errors():
        store = _open_store(_config(), create=False)
        try:
            record = _resolve_repo(store, repo)
            data = repository_stats(store, record.id)
        finally:
            if store is not None:
                store.close()
    data = {"repository": record.name, "head": record.head_commit, **data}
    if as_json:
        _emit_json(data)
        return
    click.echo(f"{record.name} at {(record.head_commit or '')[:12]}: {data['commits']} commits, "
               f"{data['authors']} authors, +{data['lines_added']} -{data['lines_deleted']} lines")
    for item in data["top_files"]:
        click.echo(f"  {item['count']:6d}  {item['path']}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def repos(as_json: bool) -> None:
    """List the ingested repositories."""
    from .storage.repositories import list_repositories

    with _user_errors():
        store = _open_store(_config(), create=False)
        items = [] if store is None else list_repositories(store)
        if store is not None:
            store.close()
    if as_json:
        _emit_json({"repositories": [r.to_dict() for r in items]})
        return
    for r in items:
        click.echo(f"{r.name:30s} {r.commit_count:8d} commits  {r.path}")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations (safe to run at any time)."""
    from .storage import open_store, upgrade

    with _user_errors():
        config = _config()
        store = open_store(config.database_url, migrate=False)
        try:
            applied = upgrade(store)
        finally:
            store.close()
    if applied:
        for m in applied:
            click.echo(f"applied {m.version:04d}_{m.name}")
    else:
        click.echo("database schema is up to date")


def run() -> None:
    """Entry point: the CLI, with unexpected failures reduced to one line (ADES_DEBUG=1 shows
    the traceback)."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("ADES_DEBUG"):
            raise
        click.echo(f"ades: internal error: {exc.__class__.__name__}: {exc} "
                   "(set ADES_DEBUG=1 for details)", err=True)
        sys.exit(EXIT_FAILURE)

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
from pathlib import Path
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
                      statement_timeout_ms=perf.statement_timeout_ms,
                      connect_timeout=perf.pool_timeout_seconds)


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


@db.command("reindex-search")
def db_reindex_search() -> None:
    """Rebuild the impact lists of common words now (PostgreSQL; ingests keep them up to date)."""
    from .storage import search_impacts

    with _user_errors():
        store = _open_store(_config(), create=False)
        if store is None:
            raise CLIError("no database yet: ingest a repository first", EXIT_NOT_FOUND)
        try:
            if store.dialect != "postgres":
                click.echo("SQLite ranks searches with FTS5: there are no impact lists to rebuild")
                return
            started = time.monotonic()
            build = search_impacts.rebuild(store)
            (words,) = store.query_one("SELECT COUNT(*) FROM search_heavy_lexemes")
        finally:
            store.close()
    click.echo(f"impact lists rebuilt: {words} words in {build.heavy_documents}+ experiences, "
               f"{build.depth} deep, over {build.experiences} experiences "
               f"({time.monotonic() - started:.1f} s)")


# --------------------------------------------------------------------------- accounts


@contextmanager
def _account_errors() -> Iterator[None]:
    """`_user_errors`, plus the account errors of `ades.hardening` as one-line errors."""
    from .hardening.tokens import TokenNotFound
    from .hardening.users import UserError, UserNotFound

    with _user_errors():
        try:
            yield
        except (UserNotFound, TokenNotFound) as exc:
            raise CLIError(str(exc), EXIT_NOT_FOUND) from exc
        except UserError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from exc


@contextmanager
def _account_store() -> Iterator[Any]:
    """The configured store (created and migrated if needed), closed afterwards."""
    with _account_errors():
        store = _open_store(_config())
        try:
            yield store
        finally:
            store.close()


def _cli_actor() -> str:
    """How CLI actions are attributed in the audit log: `cli:<login name>`."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return "cli"


def _new_password() -> str:
    """A new password: the first line of stdin when it is not a terminal, else prompted
    for twice. Checked before anything is written."""
    from .hardening.users import check_password

    if sys.stdin is not None and not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    with _account_errors():
        check_password(password)
    return password


def _role(role: str) -> str:
    from .hardening.users import check_role

    with _account_errors():
        return check_role(role.strip().lower())


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(timestamp))


@main.group()
def users() -> None:
    """Manage user accounts (roles: admin, maintainer, viewer)."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, metavar="admin|maintainer|viewer",
              help="The account's role.")
def users_create(name: str, role: str) -> None:
    """Create the account NAME; the password comes from stdin (first line) when stdin is
    not a terminal, else it is prompted for twice. At least 8 characters."""
    from .hardening.audit import record_event
    from .hardening.users import create_user, normalize_username

    role = _role(role)
    with _account_errors():
        normalize_username(name)
    password = _new_password()
    with _account_store() as store:
        user = create_user(store, name, password, role)
        record_event(store, "user.created", _cli_actor(), None,
                     {"user": user.username, "role": user.role})
    click.echo(f"created {user.role} {user.username}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the accounts as JSON.")
def users_list(as_json: bool) -> None:
    """List the accounts."""
    from .hardening.users import list_users

    with _account_store() as store:
        accounts = list_users(store)
    if as_json:
        _emit_json({"users": [u.to_dict() for u in accounts]})
        return
    for u in accounts:
        state = "disabled" if u.disabled else "locked" if u.is_locked() else "active"
        click.echo(f"{u.username:24s} {u.role:10s} {state:8s} last login {_when(u.last_login_at)}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", metavar="ROLE")
def users_set_role(name: str, role: str) -> None:
    """Give NAME the role ROLE (admin, maintainer or viewer)."""
    from .hardening.audit import record_event
    from .hardening.users import set_role

    role = _role(role)
    with _account_store() as store:
        user, before = set_role(store, name, role)
        record_event(store, "user.role_changed", _cli_actor(), None,
                     {"user": user.username, "from": before, "to": user.role})
    click.echo(f"{user.username}: {before} -> {user.role}")


@users.command("unlock")
@click.argument("name")
def users_unlock(name: str) -> None:
    """Lift the login lockout of NAME and reset its failure count."""
    from .hardening.lockout import unlock

    with _account_store() as store:
        user = unlock(store, name, actor=_cli_actor())
    click.echo(f"unlocked {user.username}")


@users.command("set-password")
@click.argument("name")
def users_set_password(name: str) -> None:
    """Set a new password for NAME (read like `users create` does); clears any lockout."""
    from .hardening.audit import record_event
    from .hardening.users import require_user, set_password

    with _account_store() as store:
        require_user(store, name)
    password = _new_password()
    with _account_store() as store:
        user = set_password(store, name, password)
        record_event(store, "user.password_changed", _cli_actor(), None,
                     {"user": user.username})
    click.echo(f"password changed for {user.username}")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable NAME: no more logins, sessions or API tokens until enabled again."""
    _set_disabled(name, True)


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Re-enable a disabled account."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    from .hardening.audit import record_event
    from .hardening.users import set_disabled

    with _account_store() as store:
        user = set_disabled(store, name, disabled)
        record_event(store, "user.disabled" if disabled else "user.enabled", _cli_actor(),
                     None, {"user": user.username})
    click.echo(f"{'disabled' if disabled else 'enabled'} {user.username}")


@main.group()
def tokens() -> None:
    """Manage API tokens for IDE and MCP clients (scopes: read, write)."""


@tokens.command("create")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option("--scope", required=True, metavar="read|write",
              help="read: GET requests only; write: everything the user's role allows.")
@click.option("--name", help="A label to recognise the token by (default: '<scope> token').")
def tokens_create(username: str, scope: str, name: str | None) -> None:
    """Create a token and print only the token itself (it is not shown again)."""
    from .hardening.audit import record_event
    from .hardening.tokens import check_scope, create_token

    with _account_errors():
        check_scope(scope.strip().lower())
    with _account_store() as store:
        record, plaintext = create_token(store, username, scope.strip().lower(), name)
        record_event(store, "token.created", _cli_actor(), None,
                     {"token_id": record.id, "user": record.username, "scope": record.scope})
    click.echo(plaintext)


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=str)
def tokens_revoke(token_id: str) -> None:
    """Revoke the token with id ID (see `ades tokens list`)."""
    from .hardening.audit import record_event
    from .hardening.tokens import revoke_token

    if not token_id.isdigit():
        raise CLIError(f"invalid token id {token_id!r}: expected a number", EXIT_USAGE)
    with _account_store() as store:
        record = revoke_token(store, int(token_id))
        record_event(store, "token.revoked", _cli_actor(), None,
                     {"token_id": record.id, "user": record.username})
    click.echo(f"revoked token {record.id} ({record.username}, {record.scope})")


@tokens.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
def tokens_list(username: str | None, as_json: bool) -> None:
    """List tokens (never their secret values)."""
    from .hardening.tokens import list_tokens

    with _account_store() as store:
        items = list_tokens(store, username)
    if as_json:
        _emit_json({"tokens": [t.to_dict() for t in items]})
        return
    for t in items:
        state = f"revoked {_when(t.revoked_at)}" if t.revoked else \
            f"last used {_when(t.last_used_at)}"
        click.echo(f"{t.id:5d}  {t.username:20s} {t.scope:5s}  {t.name:24s} {state}")


@main.command("audit")
@click.option("--kind", help="Only this kind of event (a prefix with .*, e.g. 'login.*').")
@click.option("--actor", help="Only events by this actor.")
@click.option("--ip", help="Only events from this client address.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="From this date (UTC).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
def audit_command(kind: str | None, actor: str | None, ip: str | None, since,
                  limit: int, as_json: bool) -> None:
    """Show the security audit log, newest first."""
    import calendar

    from .hardening.audit import query_events

    since_ts = calendar.timegm(since.timetuple()) if since else None
    with _account_store() as store:
        events = query_events(store, kind=kind, actor=actor, ip=ip, since=since_ts,
                              limit=limit)
    if as_json:
        _emit_json({"events": [e.to_dict() for e in events]})
        return
    for e in events:
        detail = json.dumps(e.detail, sort_keys=True, ensure_ascii=False)
        click.echo(f"{_when(e.at)}  {e.kind:20s} {e.actor or '-':20s} {e.ip or '-':15s} "
                   f"{detail}")


@main.group()
def ips() -> None:
    """Client addresses blocked after repeated rate-limit violations."""


@ips.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the blocks as JSON.")
def ips_list(as_json: bool) -> None:
    """List the addresses blocked right now."""
    from .hardening.limits import list_blocks

    with _account_store() as store:
        blocks = list_blocks(store)
    if as_json:
        _emit_json({"blocks": [b.to_dict() for b in blocks]})
        return
    for b in blocks:
        click.echo(f"{b.ip:40s} until {_when(b.blocked_until)}  {b.reason}")


@ips.command("unblock")
@click.argument("ip")
def ips_unblock(ip: str) -> None:
    """Lift the block on IP (services notice within a few seconds)."""
    from .hardening.audit import record_event
    from .hardening.limits import unblock_ip

    with _account_store() as store:
        if not unblock_ip(store, ip):
            raise CLIError(f"{ip} is not blocked", EXIT_NOT_FOUND)
        record_event(store, "ip.unblocked", _cli_actor(), None, {"blocked_ip": ip})
    click.echo(f"unblocked {ip}")


@main.command("worker")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--lease-seconds", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help="How long a claimed job stays this worker's without a heartbeat.")
@click.option("--poll-seconds", type=click.FloatRange(0.05, 60), default=1.0, show_default=True,
              help="How often an idle worker looks for new jobs.")
def worker_command(once: bool, lease_seconds: float, poll_seconds: float) -> None:
    """Run ingest jobs queued through the API or webhooks (several workers may share a
    PostgreSQL database; run one on SQLite). SIGTERM stops it between two batches.
    Prometheus metrics are served on GAIT_METRICS_PORT (default 9094)."""
    import threading

    from .logs import configure_logging
    from .metrics.worker_listener import start_worker_metrics
    from .worker import install_signal_handlers, redis_for, run_worker

    with _user_errors():
        config = _config()
        configure_logging(config.server.log_level)
        store = _open_store(config)
        shutdown = threading.Event()
        install_signal_handlers(shutdown)
        listener = start_worker_metrics(config)
        try:
            run_worker(store, config, redis_client=redis_for(config), once=once,
                       lease_seconds=lease_seconds, poll_seconds=poll_seconds, shutdown=shutdown)
        finally:
            if listener is not None:
                listener.close()
            store.close()


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


# --------------------------------------------------------------------------- backup, restore, serve


@main.command("backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the backup to this .tar.gz file.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write a timestamped ades-backup-*.tar.gz into this directory.")
@click.option("--keep", type=click.IntRange(1, 10_000),
              help="With --output-dir: keep only the newest N backups there.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def backup_command(output: Path | None, output_dir: Path | None, keep: int | None,
                   as_json: bool) -> None:
    """Back up the database (SQLite online backup, or pg_dump), the data directory and the
    config into one .tar.gz."""
    from .backup import BackupError, backup_to_directory, create_backup

    if (output is None) == (output_dir is None):
        raise CLIError("give exactly one of --output FILE or --output-dir DIR", EXIT_USAGE)
    if keep and output_dir is None:
        raise CLIError("--keep needs --output-dir", EXIT_USAGE)
    with _user_errors():
        config = _config()
        try:
            report = (create_backup(config, output) if output is not None
                      else backup_to_directory(config, output_dir, keep))
        except BackupError as exc:
            raise CLIError(str(exc), EXIT_FAILURE) from exc
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(f"backed up the {report.database} database and {report.files} files to "
                   f"{report.archive} ({report.bytes} bytes)")


@main.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing database.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def restore_command(archive: Path, force: bool, as_json: bool) -> None:
    """Restore a backup made by `ades backup` into the configured database and data directory."""
    from .backup import BackupError, restore_backup

    with _user_errors():
        config = _config()
        try:
            report = restore_backup(config, archive, force=force)
        except BackupError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from exc
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(f"restored the {report.database} database and {report.files} files from {archive}")


@main.command("serve")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The repository root (holds services/ and gateway/).")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default="data/run",
              show_default=True, help="Pids, logs and metrics scratch files.")
@click.option("--worker/--no-worker", default=True, show_default=True, help="Start `ades worker`.")
@click.option("--gateway/--no-gateway", default=True, show_default=True,
              help="Start the nginx gateway on 127.0.0.1:8000 (needs nginx).")
def serve_command(root: Path, run_dir: Path, worker: bool, gateway: bool) -> None:
    """Run the four services under gunicorn, the worker and the gateway until Ctrl-C."""
    from .serve import ServeError, serve

    with _user_errors():
        _config()
        try:
            code = serve(root, run_dir, worker=worker, gateway=gateway)
        except ServeError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from exc
    sys.exit(code)

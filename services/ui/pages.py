"""The ui's server-rendered pages: login, dashboard, repository, search, commit, patterns.

Plain HTML forms do everything (no JavaScript needed); `ui.js` only refreshes a running
ingest's progress bar in place. Forms post the session's CSRF token as `csrf_token`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ades import jobs
from ades.hardening import allow_code_input, current_principal, public, requires
from ades.hardening.context import client_ip, state
from ades.hardening.csrf import csrf_exempt
from ades.hardening.sessions import end_session, start_session
from ades.mining.remote import looks_like_url
from ades.search import query_words
from ades.service import get_store, operation, repository_summaries
from flask import Blueprint, Response, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from . import api_repositories
from .api_commits import commit_detail, list_commits
from .api_common import ApiError, repository_or_404
from .api_experiences import SEARCH_QUERY, run_search, search_from_args
from .api_patterns import cached_insights, pattern_examples

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/ui")


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else `/` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


@bp.app_template_filter("highlight")
def highlight(text: str, words: list[str]) -> Markup:
    """`text` escaped, with each query word (and its stem's continuations) in <mark>."""
    escaped = str(escape(text or ""))
    stems = [re.escape(str(escape(w[:max(3, len(w) - 2)]))) for w in words if w]
    if stems:
        pattern = re.compile(r"\b(" + "|".join(stems) + r")\w*", re.IGNORECASE)
        escaped = pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)
    # Safe: every character of `text` went through escape(); only <mark> tags were added.
    return Markup(escaped)  # noqa: S704


@bp.get("/login")
@public
@operation(produces="text/html", query={"next": "local path to return to after login"})
def login_page() -> str:
    """The login form."""
    return render_template("ui/login.html", next=safe_next(request.args.get("next")), error=None)


@bp.post("/login")
@public
@csrf_exempt
@operation(produces="text/html", form={"username": "account name", "password": "its password",
                                             "next": "local path to return to"},
           responses={302: "logged in: to `next`", 401: "the form again, with an error"})
def login_form() -> Any:
    """Log in from the form; back to `next` (a local path) on success."""
    from ades.hardening import lockout

    target = safe_next(request.form.get("next"))
    username, password = request.form.get("username", ""), request.form.get("password", "")
    security = state().config.security
    result = None
    if username and password and len(username) <= 254 and len(password) <= 1024:
        result = lockout.authenticate(state().store, username, password, ip=client_ip(),
                                      max_attempts=security.max_login_attempts,
                                      lockout_minutes=security.lockout_minutes)
    if result is None or not result.ok or result.user is None:
        return render_template("ui/login.html", next=target,
                               error="Invalid username or password."), 401
    start_session(result.user)
    return redirect(target)


@bp.post("/logout")
@requires("viewer")
@operation(produces="text/html", responses={302: "logged out: to the login page"})
def logout() -> Response:
    """End the session and return to the login page."""
    end_session()
    return redirect(url_for("ui.login_page"))


def _role_at_least(role: str) -> bool:
    from ades.hardening.users import ROLE_RANK

    principal = current_principal()
    return principal is not None and ROLE_RANK[principal.user.role] >= ROLE_RANK[role]


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    """What every page's header needs: the user and what they may do."""
    principal = current_principal()
    return {"user": principal.user if principal else None,
            "can_maintain": _role_at_least("maintainer") if principal else False}


@bp.get("/")
@requires("viewer")
@operation(produces="text/html")
def index() -> str:
    """The dashboard: repositories, recent experiences, and a registration form."""
    store = get_store()
    recent = store.query_dicts(
        "SELECT r.name AS repository, c.hash, e.title, e.category, e.authored_at "
        "FROM experiences e JOIN commits c ON c.id = e.commit_id JOIN repositories r ON r.id = e.repo_id "
        "ORDER BY e.authored_at DESC LIMIT 10")
    latest = {}
    for job in jobs.list_jobs(store, limit=200):
        latest.setdefault(job.repository, job)
    return render_template("ui/index.html", repositories=repository_summaries(), recent=recent,
                           latest=latest, error=None)


@bp.post("/repos")
@requires("maintainer")
@operation(produces="text/html", form={"name": "repository name", "source": "local path or clone URL"},
           responses={302: "registered: to the repository page", 409: "the name is taken"})
def register_form() -> Any:
    """Register a repository from the dashboard form (same checks as the API)."""
    from .api_common import valid_name

    source = request.form.get("source", "").strip()
    name = request.form.get("name", "").strip()
    try:
        valid_name(name)
        field = "url" if looks_like_url(source) else "path"
        api_repositories.register_from({"name": name, field: source})
    except ApiError as exc:
        store = get_store()
        return render_template("ui/index.html", repositories=repository_summaries(), recent=[],
                               latest={j.repository: j for j in jobs.list_jobs(store, limit=200)},
                               error=exc.description), exc.code
    return redirect(url_for("ui.repository_page", name=name))


@bp.get("/repos/<name>")
@requires("viewer")
@operation(produces="text/html")
def repository_page(name: str) -> str:
    """A repository: numbers, live ingest progress, recent commits, patterns and insights."""
    from ades.analytics import repository_stats

    repo = repository_or_404(name)
    store = get_store()
    recent_jobs = jobs.list_jobs(store, repo_id=repo.id, limit=10)
    active = next((j for j in recent_jobs if not j.finished), None)
    return render_template("ui/repository.html", repo=repo, jobs=recent_jobs, active=active,
                           stats=repository_stats(store, repo.id),
                           commits=list_commits(repo.id, limit=20, offset=0),
                           insights=cached_insights(repo.id))


@bp.post("/repos/<name>/ingest")
@requires("maintainer")
@operation(produces="text/html", responses={302: "queued: to the repository page"})
def ingest_form(name: str) -> Response:
    """Queue an ingest from the repository page."""
    repo = repository_or_404(name)
    jobs.enqueue_ingest(get_store(), repo.id, reason="ui",
                        requested_by=current_principal().user.username)  # type: ignore[union-attr]
    return redirect(url_for("ui.repository_page", name=name))


@bp.post("/repos/<name>/jobs/<int:job_id>/cancel")
@requires("maintainer")
@operation(produces="text/html", responses={302: "to the repository page"})
def cancel_form(name: str, job_id: int) -> Response:
    """Cancel the repository's queued or running job from its page."""
    repo = repository_or_404(name)
    job = jobs.get_job(get_store(), job_id)
    if job is None or job.repo_id != repo.id:
        raise ApiError(404, f"unknown job {job_id} of {name}")
    jobs.cancel_job(get_store(), job_id)
    return redirect(url_for("ui.repository_page", name=name))


@bp.get("/search")
@requires("viewer")
@operation(produces="text/html", query=SEARCH_QUERY)
@allow_code_input("q")  # reduced to plain words before it reaches SQL
def search_page() -> str:
    """The search form, and its results with the matching words highlighted."""
    results, error, words = None, None, []
    if request.args.get("q"):
        try:
            query, filters, limit, offset = search_from_args(20)
            results = run_search(query, filters, limit, offset)
            words = query_words(query)
        except ApiError as exc:
            error = exc.description
    return render_template("ui/search.html", args=request.args, results=results, error=error,
                           words=words, repositories=repository_summaries())


@bp.get("/repos/<name>/commits/<ref>")
@requires("viewer")
@operation(produces="text/html")
def commit_page(name: str, ref: str) -> str:
    """One commit: message, experience, files and the diff."""
    repo = repository_or_404(name)
    return render_template("ui/commit.html", repo=repo, commit=commit_detail(repo, ref))


@bp.get("/repos/<name>/patterns/<pattern>")
@requires("viewer")
@operation(produces="text/html")
def pattern_page(name: str, pattern: str) -> str:
    """One pattern's recent examples in a repository."""
    from ades.analytics import pattern_summary

    repo = repository_or_404(name)
    summary = [p for p in pattern_summary(get_store(), repo.id) if p["pattern"] == pattern]
    if not summary:
        raise ApiError(404, f"pattern {pattern} was not seen in {name}")
    return render_template("ui/pattern.html", repo=repo, pattern=summary[0],
                           examples=pattern_examples(repo.id, pattern, 20))

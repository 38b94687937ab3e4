"""The viz service's pages (/viz/, /viz/<repo>/<view>) and data endpoints (/viz/api/<view>).

Every page draws its chart in the browser from the matching data endpoint (d3, served from
/viz/static/vendor), and shows the same numbers as a table rendered here. Each data
endpoint takes `repo` plus the filters of `ades.viz_data.parse_filters`, answers JSON or,
with `format=csv`, the view's table as CSV; results are cached until the next ingest.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ades import viz_data
from ades.analysis.classify import CATEGORIES
from ades.hardening.rbac import public, requires
from ades.optimizer import cached
from ades.service import error_response, get_store, operation, repository_summaries
from ades.storage.repositories import get_repository
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

bp = Blueprint("viz", __name__, url_prefix="/viz", template_folder="templates",
               static_folder="static")

TITLES = {
    "activity": "Activity and forecast",
    "churn": "Churn",
    "hotspots": "Hotspots",
    "ownership": "Ownership and bus factor",
    "coupling": "Temporal coupling",
    "code-age": "Code age",
    "mix": "Language, category and pattern mix",
    "calendar": "Author activity calendar",
}
FILTER_ARGS = ("since", "until", "path", "author", "category")
TABLE_ROWS_SHOWN = 500
_FILTER_DOCS = {
    "repo": {"in": "query", "required": True, "schema": {"type": "string"},
             "description": "Repository name"},
    "since": "First day, YYYY-MM-DD (UTC, author date)",
    "until": "Last day, YYYY-MM-DD (UTC, inclusive)",
    "path": "Path prefix (e.g. src/app/)",
    "author": "Author email",
    "category": "Commit category (" + ", ".join(CATEGORIES) + ")",
    "format": {"in": "query", "required": False,
               "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
               "description": "json (the chart's data) or csv (the view's table)"},
    "download": "1 to answer as an attachment (file download)",
}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@public
@operation(produces="image/svg+xml")
def favicon() -> Response:
    """The service's icon, which browsers fetch from /favicon.ico on their own; through the
    gateway that path belongs to the ui service, on port 8083 it is this one."""
    return send_from_directory(bp.static_folder, "favicon.svg", mimetype="image/svg+xml",
                               max_age=86400)


bp.record_once(lambda state: state.app.add_url_rule("/favicon.ico", "viz_favicon", favicon))


@bp.get("/")
@requires("viewer")
@operation(produces="text/html")
def index() -> str:
    """The analytics home: the repositories that can be analysed, largest first."""
    repositories = sorted(repository_summaries(), key=lambda r: -r["commit_count"])
    total = sum(r["commit_count"] for r in repositories)
    return render_template("viz/index.html", repositories=repositories, total=total,
                           titles=TITLES)


def _resolve(view: str, repo_name: str, args: dict[str, str]) -> tuple[Any, Any, dict[str, Any]]:
    """The repository, filters and extra arguments of a data request (400/404 when bad)."""
    if not repo_name:
        raise _BadRequest(400, "repo is required: the name of an ingested repository")
    store = get_store()
    # Looked up once per name until a repository is registered, ingested or deleted.
    repo = cached(("viz.repository", repo_name), lambda: get_repository(store, repo_name))
    if repo is None:
        raise _BadRequest(404, f"no repository named {repo_name!r}")
    try:
        filters = viz_data.parse_filters(args)
        extra: dict[str, Any] = {}
        if view == "mix":
            extra["series"] = args.get("series") or "language"
            if extra["series"] not in viz_data.MIX_SERIES:
                raise viz_data.VizInputError("series must be one of " + ", ".join(viz_data.MIX_SERIES))
    except viz_data.VizInputError as exc:
        raise _BadRequest(400, str(exc)) from None
    return repo, filters, extra


def _answer(view: str, repo: Any, filters: Any, extra: dict[str, Any],
            args: dict[str, str]) -> dict[str, Any]:
    compute = viz_data.VIEWS[view]
    data = cached(("viz", view, repo.id, filters.key(), tuple(sorted(extra.items()))),
                  lambda: compute(get_store(), repo.id, filters, **extra), repo_id=repo.id,
                  shared=True)
    applied = {k: args.get(k) or None for k in FILTER_ARGS}
    return {"repo": repo.name, "view": view, "filters": applied, **extra, **data}


def _view_data(view: str, repo_name: str, args: dict[str, str]) -> dict[str, Any]:
    """The data of `view` for `repo_name` under the filters in `args`, from the query cache."""
    repo, filters, extra = _resolve(view, repo_name, args)
    return _answer(view, repo, filters, extra, args)


def _view_json(view: str, repo_name: str, args: dict[str, str]) -> str:
    """`_view_data`'s answer as jsonify writes it, serialized once per distinct request and
    cached with the data (a view's JSON runs to hundreds of kB)."""
    repo, filters, extra = _resolve(view, repo_name, args)
    applied = tuple((k, args.get(k) or None) for k in FILTER_ARGS)
    key = ("viz.json", view, repo.id, filters.key(), tuple(sorted(extra.items())), applied)
    return cached(key, lambda: current_app.json.dumps(
        _answer(view, repo, filters, extra, args), separators=(",", ":")) + "\n", repo_id=repo.id)


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ runs as a formula in spreadsheets (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _table_csv(table: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table["columns"])
    for row in table["rows"]:
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue()


def _api(view: str) -> Response:
    args = request.args.to_dict()
    fmt = args.get("format", "json")
    if fmt not in ("json", "csv"):
        return error_response(400, "format must be json or csv")
    repo_name = args.get("repo", "").strip()
    try:
        if fmt == "csv":
            response = Response(_table_csv(_view_data(view, repo_name, args)["table"]),
                                mimetype="text/csv")
        else:
            response = current_app.response_class(_view_json(view, repo_name, args),
                                                  mimetype="application/json")
    except _BadRequest as exc:
        return error_response(exc.status, str(exc))
    if fmt == "csv" or args.get("download") == "1":
        # The name was found by equality, so it is the repository's own.
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{_filename(repo_name)}-{view}.{fmt}"')
    return response


def _filename(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _register_api(view: str) -> None:
    doc = viz_data.VIEWS[view].__doc__ or ""

    def endpoint() -> Response:
        return _api(view)

    endpoint.__name__ = "api_" + view.replace("-", "_")
    endpoint.__doc__ = f"{TITLES[view]}: the chart's data as JSON, or its table as CSV.\n\n" + doc
    query = dict(_FILTER_DOCS)
    if view == "mix":
        query["series"] = {"in": "query", "required": False,
                           "schema": {"type": "string", "enum": list(viz_data.MIX_SERIES)},
                           "description": "What to break each month down by"}
    wrapped = operation(query=query, tags=["viz-data"], produces=["application/json", "text/csv"],
                        responses={
        400: "Missing repo or a bad filter", 404: "No such repository"})(endpoint)
    bp.add_url_rule(f"/api/{view}", endpoint=endpoint.__name__,
                    view_func=requires("viewer")(wrapped), methods=["GET"])


for _view in viz_data.VIEWS:
    _register_api(_view)


@bp.get("/<repo>/")
@requires("viewer")
@operation(produces="text/html", responses={302: "to the repository's first view"})
def repository_home(repo: str) -> Response:
    """A repository's analytics: its first view (activity)."""
    return redirect(url_for("viz.page", repo=repo, view="activity", **request.args.to_dict()))


@bp.get("/<repo>/<view>")
@requires("viewer")
@operation(query={k: v for k, v in _FILTER_DOCS.items() if k in FILTER_ARGS}, produces="text/html")
def page(repo: str, view: str) -> Any:
    """One analytics page: filters, the chart, exports and the table of the same data."""
    if view not in viz_data.VIEWS:
        abort(404, description=f"no view named {view!r}; views: {', '.join(viz_data.VIEWS)}")
    args = request.args.to_dict()
    try:
        data = _view_data(view, repo, args)
    except _BadRequest as exc:
        return error_response(exc.status, str(exc))
    query = {k: v for k, v in args.items() if v and (k in FILTER_ARGS or k == "series")}
    api_url = url_for(f"viz.api_{view.replace('-', '_')}", repo=repo, **query)
    table = data["table"]
    return render_template(
        "viz/view.html", repo=repo, view=view, titles=TITLES, data=data,
        api_url=api_url, query=query, categories=CATEGORIES,
        series_options=viz_data.MIX_SERIES, columns=table["columns"],
        rows=table["rows"][:TABLE_ROWS_SHOWN], total_rows=len(table["rows"]),
        csv_url=url_for(f"viz.api_{view.replace('-', '_')}", repo=repo, format="csv", **query),
        json_url=url_for(f"viz.api_{view.replace('-', '_')}", repo=repo, download="1", **query))

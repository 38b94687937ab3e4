"""The MCP server at /mcp: the official `mcp` SDK client talks to the ide service under real
gunicorn and calls every tool; protocol errors get JSON-RPC errors, auth errors HTTP 401."""

from __future__ import annotations

import contextlib
import json

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import McpError
from service_runner import http, run_service

from services.ide import create_app

from .conftest import seed_ide

TOOLS = {"search_experiences", "file_context", "review_diff", "similar_changes", "co_changes",
         "experts", "repository_overview"}
DIFF = "--- a/src/orders.py\n+++ b/src/orders.py\n@@ -1,2 +1,3 @@\n def order_total(items):\n+    x = 1\n"


@pytest.fixture
def running_ide(make_service, service_overrides, gunicorn_env, shop_repo, tmp_path):
    """(base url, tokens) of the ide service under gunicorn over the ingested "shop"."""
    found = seed_ide(make_service(create_app, service_overrides), shop_repo.path)
    with run_service("ide", tmp_path, workers=2, env=gunicorn_env) as service:
        yield service.url, found


@contextlib.asynccontextmanager
async def _client(url, token):
    """The SDK's streamable HTTP transport with a bearer token, as an IDE would configure it."""
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http_client, \
            streamable_http_client(f"{url}/mcp", http_client=http_client) as streams:
        yield streams


async def _session_run(url, token, work):
    async with _client(url, token) as (read, write, _), ClientSession(read, write) as session:
        init = await session.initialize()
        return init, await work(session)


def _structured(result):
    assert result.isError is False, result.content
    assert json.loads(result.content[0].text) == result.structuredContent
    return result.structuredContent


def test_the_official_client_lists_and_calls_every_tool_and_reads_resources(running_ide):
    url, tokens = running_ide

    async def work(session):
        tools = await session.list_tools()
        calls = {
            "search_experiences": {"query": "rounding", "repo": "shop"},
            "file_context": {"repo": "shop", "path": "src/orders.py", "lines": [1, 5]},
            "review_diff": {"repo": "shop", "diff": DIFF},
            "similar_changes": {"repo": "shop", "text": "order_total discount"},
            "co_changes": {"repo": "shop", "path": "src/orders.py"},
            "experts": {"repo": "shop", "path": "src/orders.py"},
            "repository_overview": {"repo": "shop"},
        }
        results = {name: await session.call_tool(name, args) for name, args in calls.items()}
        resources = await session.list_resources()
        templates = await session.list_resource_templates()
        overview = await session.read_resource("ades://repositories/shop")
        commit = _structured(results["search_experiences"])["results"][0]["commit"]
        experience = await session.read_resource(
            f"ades://repositories/shop/experiences/{commit[:10]}")
        await session.send_ping()
        return tools, results, resources, templates, overview, experience

    init, (tools, results, resources, templates, overview, experience) = anyio.run(
        _session_run, url, tokens["read"], work)
    assert init.serverInfo.name == "ades-ide"
    assert init.capabilities.tools is not None and init.capabilities.resources is not None
    assert {t.name for t in tools.tools} == TOOLS
    assert all(t.inputSchema["type"] == "object" for t in tools.tools)
    assert [c["path"] for c in _structured(results["co_changes"])["co_changes"]][:2] == [
        "src/orders_db.py", "tests/test_orders.py"]
    assert _structured(results["file_context"])["co_changes"][0]["support"] == 6
    assert _structured(results["experts"])["experts"][0]["email"] == "rita@example.com"
    assert {s["kind"] for s in _structured(results["review_diff"])["suggestions"]} >= {
        "missing_co_change"}
    assert _structured(results["similar_changes"])["results"]
    assert _structured(results["repository_overview"])["stats"]["commits"] == 9
    assert "ades://repositories/shop" in {str(r.uri) for r in resources.resources}
    assert {t.name for t in templates.resourceTemplates} == {"experience", "file-context"}
    assert json.loads(overview.contents[0].text)["repository"] == "shop"
    assert json.loads(experience.contents[0].text)["commit"].startswith(
        _structured(results["search_experiences"])["results"][0]["commit"][:10])


@pytest.mark.parametrize("backend", ["sqlite"])  # protocol errors do not depend on the backend
def test_an_unknown_tool_and_bad_arguments_are_json_rpc_errors_and_a_bad_repo_a_tool_error(
        running_ide):
    url, tokens = running_ide

    async def work(session):
        errors = []
        for name, args in (("drop_tables", {}), ("file_context", {"repo": "shop"}),
                           ("experts", {"repo": "shop", "path": "a", "limit": "ten"})):
            with pytest.raises(McpError) as caught:
                await session.call_tool(name, args)
            errors.append(caught.value.error)
        missing_repo = await session.call_tool("co_changes", {"repo": "nope", "path": "a.py"})
        with pytest.raises(McpError) as caught:
            await session.read_resource("ades://repositories/nope")
        return errors, missing_repo, caught.value.error

    _, (errors, missing_repo, not_found) = anyio.run(_session_run, url, tokens["read"], work)
    assert [e.code for e in errors] == [-32602, -32602, -32602]
    assert "unknown tool" in errors[0].message
    assert "path" in errors[1].message and "limit" in errors[2].message
    assert missing_repo.isError is True and "nope" in missing_repo.content[0].text
    assert not_found.code == -32002


@pytest.mark.parametrize("backend", ["sqlite"])  # the token check is the hardening's
def test_missing_and_revoked_tokens_are_refused_with_401_before_any_json_rpc(running_ide):
    url, tokens = running_ide
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    for headers in ({}, {"Authorization": f"Bearer {tokens['revoked']}"}):
        response = http("POST", f"{url}/mcp", body=body,
                        headers={"Content-Type": "application/json", **headers})
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    async def connect():
        with anyio.fail_after(5):
            async with _client(url, tokens["revoked"]) as (read, write, _), \
                    ClientSession(read, write) as session:
                await session.initialize()

    with pytest.raises(BaseException) as caught:  # noqa: PT011 - the SDK may wrap it in groups
        anyio.run(connect)
    statuses = [getattr(getattr(e, "response", None), "status_code", None)
                for e in _leaves(caught.value)]
    assert 401 in statuses, repr(caught.value)


def _leaves(error):
    """The non-group exceptions inside `error` (itself when it is not a group)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]

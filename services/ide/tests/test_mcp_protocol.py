"""The MCP JSON-RPC layer in-process: version negotiation, sessions, and every malformed
message answered with the protocol's error rather than a 500."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # protocol only; no SQL involved


def _rpc(client, token, message, session=None, raw=None, **headers):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", **headers}
    if session:
        headers["Mcp-Session-Id"] = session
    data = raw if raw is not None else json.dumps(message)
    return client.post("/mcp", data=data, headers=headers)


def _initialize(client, token, version="2025-06-18"):
    response = _rpc(client, token, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                    "params": {"protocolVersion": version, "capabilities": {},
                                               "clientInfo": {"name": "t", "version": "1"}}})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_initialize_echoes_a_supported_version_and_issues_a_session(ide):
    client, tokens = ide
    response = _initialize(client, tokens["read"])
    assert response.get_json()["result"]["protocolVersion"] == "2025-06-18"
    assert response.headers["Mcp-Session-Id"]


def test_initialize_offers_the_latest_version_for_an_unknown_one(ide):
    client, tokens = ide
    result = _initialize(client, tokens["read"], "1999-01-01").get_json()["result"]
    assert result["protocolVersion"] == "2025-11-25"


def test_notifications_are_accepted_with_202_and_no_body(ide):
    client, tokens = ide
    session = _initialize(client, tokens["read"]).headers["Mcp-Session-Id"]
    response = _rpc(client, tokens["read"], {"jsonrpc": "2.0", "method": "notifications/initialized"},
                    session)
    assert response.status_code == 202 and response.data == b""


@pytest.mark.parametrize(("raw", "status", "code"), [
    ("{not json", 400, -32700),
    ("[]", 400, -32600),
    ('{"jsonrpc": "1.0", "id": 1, "method": "ping"}', 400, -32600),
    ('{"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}', 400, -32600),
    ('{"jsonrpc": "2.0", "id": 1, "method": 7}', 400, -32600),
    ('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": [1]}', 200, -32602),
    ('{"jsonrpc": "2.0", "id": 1, "method": "no/such/method"}', 200, -32601),
    ('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}', 200, -32602),
])
def test_malformed_messages_get_json_rpc_errors(ide, raw, status, code):
    client, tokens = ide
    session = _initialize(client, tokens["read"]).headers["Mcp-Session-Id"]
    response = _rpc(client, tokens["read"], None, session, raw=raw)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == code


def test_requests_without_or_with_a_forged_session_are_refused(ide):
    client, tokens = ide
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    assert _rpc(client, tokens["read"], ping).status_code == 400
    assert _rpc(client, tokens["read"], ping, "forged.session").status_code == 404
    session = _initialize(client, tokens["read"]).headers["Mcp-Session-Id"]
    assert _rpc(client, tokens["read"], ping, session).get_json()["result"] == {}


def test_an_unsupported_protocol_version_header_is_a_400(ide):
    client, tokens = ide
    session = _initialize(client, tokens["read"]).headers["Mcp-Session-Id"]
    response = _rpc(client, tokens["read"], {"jsonrpc": "2.0", "id": 3, "method": "ping"}, session,
                    **{"MCP-Protocol-Version": "2001-01-01"})
    assert response.status_code == 400


def test_get_on_the_mcp_endpoint_is_405_because_there_is_no_sse_stream(ide):
    client, tokens = ide
    response = client.get("/mcp", headers={"Authorization": f"Bearer {tokens['read']}"})
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_a_file_resource_reads_as_the_files_context_and_an_unknown_uri_is_not_found(ide):
    client, tokens = ide
    session = _initialize(client, tokens["read"]).headers["Mcp-Session-Id"]
    uri = "ades://repositories/shop/files/src/orders.py"
    read = _rpc(client, tokens["read"], {"jsonrpc": "2.0", "id": 4, "method": "resources/read",
                                         "params": {"uri": uri}}, session).get_json()
    content = read["result"]["contents"][0]
    assert content["uri"] == uri and content["mimeType"] == "application/json"
    assert json.loads(content["text"])["co_changes"][0]["path"] == "src/orders_db.py"
    missing = _rpc(client, tokens["read"], {"jsonrpc": "2.0", "id": 5, "method": "resources/read",
                                            "params": {"uri": "file:///etc/passwd"}}, session)
    assert missing.get_json()["error"]["code"] == -32002

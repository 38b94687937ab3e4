"""Live rooms under real gunicorn: fan-out across workers and instances through a real Redis,
presence, catch-up by cursor, abuse limits, the handshake's checks, and SIGTERM.

Each test module run gets a private redis-server, so no other test's channels or keys meet
ours; the database is a fresh PostgreSQL database (the cluster test) or SQLite file.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import websocket
from service_runner import http, run_service, stop

from services.collab import create_app
from services.collab.tests.wsclient import WsClient, start_private_redis

USERS = [f"user{i:02d}" for i in range(20)]


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    redis_server = start_private_redis(tmp_path_factory.mktemp("redis"))
    yield redis_server.url
    redis_server.stop()


def seed(make_service, overrides, usernames, *, read_only=()):
    """Users (viewers) with API tokens and one repository; returns (repo name, tokens)."""
    from ades.hardening import tokens, users
    from ades.service import service_context
    from ades.storage.repositories import register_repository

    app = make_service(create_app, overrides)
    store = service_context(app).stores.get().inner
    issued = {}
    for name in usernames:
        users.create_user(store, name, f"{name}-password-long", "viewer")
        scope = "read" if name in read_only else "write"
        issued[name] = tokens.create_token(store, name, scope)[1]
    repo = f"room-{uuid.uuid4().hex[:8]}"
    register_repository(store, repo, f"/srv/git/{repo}")
    return repo, issued


def ws_url(service, repo, cursor=None):
    url = service.url.replace("http://", "ws://") + f"/ws/repos/{repo}"
    return url if cursor is None else f"{url}?cursor={cursor}"


def presence_names(message):
    return sorted(u["username"] for u in message["users"])


def test_an_annotation_reaches_every_client_on_every_worker_and_instance_and_catch_up_is_exact(
        tmp_path, make_service, postgres_url, private_redis):
    overrides = {"server": {"data_dir": str(tmp_path / "data"), "postgres_url": postgres_url,
                            "redis_url": None},
                 "security": {"secret_key": "unused-here"}}
    repo, issued = seed(make_service, overrides, USERS)
    env = {"GAIT_POSTGRES_URL": postgres_url, "GAIT_REDIS_URL": private_redis,
           "GAIT_RATE_LIMIT": "600/minute"}
    clients = []
    with run_service("collab", tmp_path, workers=2, env=env) as pod_a, \
            run_service("collab", tmp_path, workers=2, env=env) as pod_b:
        try:
            for i, name in enumerate(USERS):
                service = pod_a if i % 2 == 0 else pod_b
                clients.append(WsClient(ws_url(service, repo), token=issued[name]))
            for client in clients:
                welcome = client.wait_for(lambda m: m["type"] == "welcome")
                assert welcome["v"] == 1 and welcome["repo"] == repo and welcome["cursor"] == 0

            # Presence converges to the same 20 users on every client, whichever pod.
            for client in clients:
                client.wait_for(lambda m: m["type"] == "presence" and len(m["users"]) == 20,
                                timeout=15)
            time.sleep(0.3)  # let any last coalesced refresh land before comparing
            latest = [client.messages("presence")[-1] for client in clients]
            assert all(presence_names(m) == USERS for m in latest)
            assert all(m["connections"] == 20 for m in latest)

            # One annotation, created on pod A, reaches the 19 others within 500 ms.
            author, others = clients[0], clients[1:]
            sent_at = time.monotonic()
            author.send({"type": "annotation.create", "v": 1, "request_id": "a1",
                         "target": {"kind": "commit", "id": "abc1234"},
                         "body": "Why a retry loop here? @user03"})
            ack = author.wait_for(lambda m: m["type"] == "ack")
            assert ack["request_id"] == "a1" and ack["cursor"] == 1

            def created(m):
                return m["type"] == "annotation.created" and m["cursor"] == 1

            for client in others:
                message = client.wait_for(created, timeout=5)
                assert message["annotation"]["mentions"] == ["user03"]
                assert message["annotation"]["author"] == "user00"
            latencies = [client.arrival_of(created) - sent_at for client in others]
            print(f"fan-out to 19 clients on 2 pods x 2 workers: max {max(latencies) * 1000:.1f} ms")
            assert max(latencies) < 0.5

            # user05 leaves holding cursor 1; three changes happen; it comes back with it.
            away = clients[5]
            away.close()
            # Each change waits for its own ack (by request id): clients[0] already holds
            # the ack of "a1", which would otherwise satisfy the wait before "r1" is stored.
            clients[2].send({"type": "annotation.create", "v": 1, "request_id": "c2", "target":
                             {"kind": "file", "id": "src/http/retry.py"}, "body": "flaky"})
            clients[2].wait_for(lambda m: m["type"] == "ack" and m.get("request_id") == "c2")
            clients[3].send({"type": "annotation.create", "v": 1, "request_id": "c3",
                             "thread_id": 1, "body": "it papers over a race"})
            clients[3].wait_for(lambda m: m["type"] == "ack" and m.get("request_id") == "c3")
            clients[0].send({"type": "annotation.resolve", "v": 1, "request_id": "r1", "id": 1,
                             "resolved": True})
            clients[0].wait_for(lambda m: m["type"] == "ack" and m.get("request_id") == "r1")
            back = WsClient(ws_url(pod_b, repo, cursor=1), token=issued["user05"])
            clients[5] = back
            caught_up = back.wait_for(lambda m: m["type"] == "caught_up")
            assert caught_up["cursor"] == 4 and caught_up["count"] == 3
            replayed = [m for m in back.messages() if m["type"].startswith("annotation.")]
            assert [(m["cursor"], m["type"]) for m in replayed] == [
                (2, "annotation.created"), (3, "annotation.created"), (4, "annotation.resolved")]
            assert replayed[1]["annotation"]["thread_id"] == 1

            # And live traffic resumes after the replay, without repeats.
            clients[1].send({"type": "annotation.edit", "v": 1, "id": 1, "body": "x"})
            assert clients[1].wait_for(lambda m: m["type"] == "error")["code"] == "forbidden"
            clients[0].send({"type": "annotation.edit", "v": 1, "id": 1, "body": "Why retry?"})
            back.wait_for(lambda m: m.get("cursor") == 5 and m["type"] == "annotation.updated")
            cursors = [m["cursor"] for m in back.messages() if m["type"].startswith("annotation.")]
            assert cursors == [2, 3, 4, 5]
        finally:
            for client in clients:
                client.close()


def test_garbage_huge_frames_and_floods_are_refused_without_hurting_other_clients(
        tmp_path, make_service, private_redis):
    overrides = {"server": {"data_dir": str(tmp_path / "data"), "redis_url": None},
                 "security": {"secret_key": "unused-here"}}
    repo, issued = seed(make_service, overrides, ["victim", "noisy", "huge", "flood"])
    env = {"GAIT_REDIS_URL": private_redis, "GAIT_RATE_LIMIT": "600/minute"}
    with run_service("collab", tmp_path, workers=2, env=env) as service:
        victim = WsClient(ws_url(service, repo), token=issued["victim"])
        noisy = WsClient(ws_url(service, repo), token=issued["noisy"])
        huge = WsClient(ws_url(service, repo), token=issued["huge"])
        flood = WsClient(ws_url(service, repo), token=issued["flood"])
        try:
            for client in (victim, noisy, huge, flood):
                client.wait_for(lambda m: m["type"] == "caught_up")

            for garbage in ("not json", "[1, 2]", '{"no": "type"}', b"\x00\xff",
                            '{"type": "teleport", "v": 1}',
                            '{"type": "annotation.create", "v": 1, "target": {"kind": "commit",'
                            ' "id": "ZZZ"}, "body": "x"}'):
                noisy.send(garbage)
            noisy.wait_for(lambda m: len(noisy.messages("error")) >= 6)
            errors = noisy.messages("error")
            assert [e["code"] for e in errors] == ["malformed", "malformed", "malformed",
                                                   "unsupported", "unknown_type", "invalid"]
            assert all(isinstance(e["message"], str) and "\n" not in e["message"] for e in errors)
            noisy.send({"type": "ping", "v": 1, "request_id": 7})
            assert noisy.wait_for(lambda m: m["type"] == "pong")["request_id"] == 7

            huge.send('{"type": "ping", "pad": "' + "x" * (128 * 1024) + '"}')
            # Closed with 1009; the close frame may be lost to a reset while the client
            # is still writing the rest of its frame.
            assert huge.closed.wait(10) and huge.close_code in (1009, None)

            for _ in range(1000):
                try:
                    flood.send({"type": "ping", "v": 1})
                except (OSError, websocket.WebSocketException):
                    break  # the server closed the flooding connection mid-burst
            # Closed with 1008; as above, the close frame may be lost to a reset while the
            # client is still sending.
            assert flood.closed.wait(10) and flood.close_code in (1008, None)
            assert any(m["code"] == "rate_limited" for m in flood.messages("error"))

            # The victim kept its connection and still gets every broadcast.
            noisy.send({"type": "annotation.create", "v": 1,
                        "target": {"kind": "experience", "id": "42"}, "body": "still here"})
            message = victim.wait_for(lambda m: m["type"] == "annotation.created")
            assert message["annotation"]["body"] == "still here"
            victim.send({"type": "ping", "v": 1, "request_id": "v"})
            assert victim.wait_for(lambda m: m["type"] == "pong")["request_id"] == "v"
            assert not victim.closed.is_set()
        finally:
            for client in (victim, noisy, huge, flood):
                client.close()


def test_the_handshake_requires_a_login_a_known_room_and_an_allowed_origin(
        tmp_path, make_service, private_redis):
    overrides = {"server": {"data_dir": str(tmp_path / "data"), "redis_url": None},
                 "security": {"secret_key": "unused-here"}}
    repo, issued = seed(make_service, overrides, ["reader", "writer"], read_only=("reader",))
    env = {"GAIT_REDIS_URL": private_redis, "GAIT_PUBLIC_URL": "https://ades.example.org"}
    with run_service("collab", tmp_path, workers=1, env=env) as service:
        def status_of(url, **kwargs):
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                WsClient(url, **kwargs)
            return refused.value.status_code

        assert status_of(ws_url(service, repo)) == 401
        assert status_of(ws_url(service, repo), token="ades_not-a-token") == 401
        assert status_of(ws_url(service, "no-such-repo"), token=issued["writer"]) == 404
        assert status_of(ws_url(service, repo), token=issued["writer"],
                         origin="https://evil.example.com") == 403
        assert status_of(ws_url(service, repo, cursor="-1"), token=issued["writer"]) == 400

        # A browser's session cookie works as well as a token.
        login = http("POST", service.url + "/api/auth/login",
                     headers={"Content-Type": "application/json"},
                     body=json.dumps({"username": "writer",
                                      "password": "writer-password-long"}).encode())
        assert login.status == 200
        cookie = login.headers["Set-Cookie"].split(";", 1)[0]
        from_public = WsClient(ws_url(service, repo), cookie=cookie,
                               origin="https://ades.example.org")
        reader = WsClient(ws_url(service, repo), token=issued["reader"])
        try:
            assert from_public.wait_for(lambda m: m["type"] == "welcome")["user"] == "writer"
            reader.wait_for(lambda m: m["type"] == "caught_up")
            reader.send({"type": "annotation.create", "v": 1, "request_id": "r",
                         "target": {"kind": "commit", "id": "abcd"}, "body": "read-only"})
            assert reader.wait_for(lambda m: m["type"] == "error")["code"] == "forbidden"
            reader.send({"type": "focus", "v": 1, "target": {"kind": "file", "id": "README"}})
            seen = from_public.wait_for(lambda m: m["type"] == "presence" and any(
                u["focus"] == {"kind": "file", "id": "README"} for u in m["users"]))
            assert presence_names(seen) == ["reader", "writer"]

            # Ingest progress that the ui publishes on the room's channel is relayed as is.
            import redis

            event = {"type": "ingest.progress", "v": 1, "repo": repo, "job": 3, "done": 5,
                     "total": 9}
            publisher = redis.Redis.from_url(private_redis)
            publisher.publish(f"ades:events:repo:{repo}", json.dumps(event))
            publisher.publish("ades:events:repo:another-room", json.dumps({**event, "job": 4}))
            publisher.close()
            assert reader.wait_for(lambda m: m["type"] == "ingest.progress") == event
            time.sleep(0.2)
            assert [m["job"] for m in reader.messages("ingest.progress")] == [3]
        finally:
            from_public.close()
            reader.close()


def test_sigterm_tells_clients_to_reconnect_and_the_worker_drains_at_once(
        tmp_path, make_service):
    overrides = {"server": {"data_dir": str(tmp_path / "data"), "redis_url": None},
                 "security": {"secret_key": "unused-here"}}
    repo, issued = seed(make_service, overrides, ["stayer"])
    with run_service("collab", tmp_path, workers=1) as service:
        client = WsClient(ws_url(service, repo), token=issued["stayer"])
        client.wait_for(lambda m: m["type"] == "caught_up")
        assert stop(service.process) == 0
        assert client.closed.wait(10)
        notice = client.wait_for(lambda m: m["type"] == "reconnect")
        assert notice["v"] == 1 and notice["retry_after_ms"] > 0
        assert client.close_code == 1012
        # Drained because the socket closed, not because graceful_timeout (30 s) ran out.
        assert "graceful timeout" not in service.log().lower()
        client.close()

"""Accounts, API tokens, lockout and the audit log at the library level, and the
`ades users|tokens|audit` commands that administer them."""

from __future__ import annotations

import hashlib
import json

import pytest
from ades.cli import main
from ades.hardening import audit, lockout, tokens, users
from ades.hardening.limits import block_ip, list_blocks, unblock_ip
from ades.storage import open_store
from click.testing import CliRunner
from hardening_world import PASSWORDS

LOCKOUT = {"max_attempts": 3, "lockout_minutes": 15}


def test_passwords_are_stored_as_argon2id_hashes_and_verified(world):
    (stored,) = world.store.query_one("SELECT password_hash FROM users WHERE username = 'bob'")
    assert stored.startswith("$argon2id$")
    assert PASSWORDS["bob"] not in stored
    assert users.verify_password(stored, PASSWORDS["bob"])
    assert not users.verify_password(stored, "not-bobs-password")
    assert not users.verify_password("garbage", PASSWORDS["bob"])


def test_the_real_hasher_uses_strong_argon2id_parameters(monkeypatch):
    from argon2 import Type

    monkeypatch.undo()  # drop the cheap test hasher
    hasher = users.PASSWORD_HASHER
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2  # OWASP's floor


def test_outdated_hashes_are_upgraded_at_the_next_successful_login(world, monkeypatch):
    from argon2 import PasswordHasher

    monkeypatch.setattr(users, "PASSWORD_HASHER",
                        PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    result = lockout.authenticate(world.store, "carol", PASSWORDS["carol"], ip=None,
                                  **LOCKOUT)
    assert result.ok
    (stored,) = world.store.query_one("SELECT password_hash FROM users WHERE username = 'carol'")
    assert "m=2048,t=2" in stored


def test_user_names_are_case_insensitive_and_unique(world):
    assert users.get_user(world.store, "ALICE").id == world.alice.id
    with pytest.raises(users.UserError, match="already exists"):
        users.create_user(world.store, "Alice", "another-password", "viewer")


@pytest.mark.parametrize("name, password, role, message", [
    ("", "long-enough", "viewer", "invalid user name"),
    ("has space", "long-enough", "viewer", "invalid user name"),
    ("-dash-first", "long-enough", "viewer", "invalid user name"),
    ("x" * 65, "long-enough", "viewer", "invalid user name"),
    ("dave", "short", "viewer", "too short"),
    ("dave", "p" * 1025, "viewer", "too long"),
    ("dave", "long-enough", "superuser", "invalid role"),
])
def test_bad_names_passwords_and_roles_are_refused(store, name, password, role, message):
    with pytest.raises(users.UserError, match=message):
        users.create_user(store, name, password, role)
    assert users.list_users(store) == []


def test_the_last_admin_cannot_be_demoted_or_disabled(world):
    with pytest.raises(users.UserError, match="last admin"):
        users.set_role(world.store, "alice", "viewer")
    with pytest.raises(users.UserError, match="last admin"):
        users.set_disabled(world.store, "alice", True)
    users.set_role(world.store, "bob", "admin")
    user, before = users.set_role(world.store, "alice", "viewer")
    assert (before, user.role) == ("admin", "viewer")


def test_tokens_are_random_shown_once_and_stored_only_as_sha256(world):
    rows = world.store.query("SELECT token_hash FROM api_tokens ORDER BY id")
    assert [r[0] for r in rows] == [hashlib.sha256(t.encode()).hexdigest()
                                    for t in (world.read_token, world.write_token)]
    assert world.read_token != world.write_token
    assert world.read_token.startswith("ades_") and len(world.read_token) == 48
    listed = json.dumps([t.to_dict() for t in tokens.list_tokens(world.store)])
    assert world.read_token not in listed and "token_hash" not in listed


def test_a_token_resolves_to_its_user_and_records_its_last_use_once_a_minute(world):
    user, token, touched = tokens.resolve_token(world.store, world.write_token, now=1000)
    assert (user.username, token.scope, touched) == ("bob", "write", True)
    assert tokens.resolve_token(world.store, world.write_token, now=1030)[2] is False
    assert tokens.resolve_token(world.store, world.write_token, now=1061)[2] is True
    assert tokens.get_token(world.store, token.id).last_used_at == 1061


def test_revoked_tokens_and_tokens_of_disabled_users_no_longer_resolve(world):
    tokens.revoke_token(world.store, world.read_token_id)
    assert tokens.resolve_token(world.store, world.read_token) is None
    assert tokens.resolve_token(world.store, world.write_token) is not None
    users.set_disabled(world.store, "bob", True)
    assert tokens.resolve_token(world.store, world.write_token) is None
    assert tokens.resolve_token(world.store, "ades_" + "x" * 43) is None
    assert tokens.resolve_token(world.store, "not a token") is None


def test_an_account_locks_after_the_maximum_failures_even_for_the_right_password(world):
    outcomes = [lockout.authenticate(world.store, "carol", "wrong-password", ip="192.0.2.1",
                                     now=1000 + i, **LOCKOUT).outcome for i in range(3)]
    assert outcomes == [lockout.LoginOutcome.BAD_CREDENTIALS] * 2 + [lockout.LoginOutcome.LOCKED]
    right = lockout.authenticate(world.store, "carol", PASSWORDS["carol"], ip="192.0.2.1",
                                 now=1010, **LOCKOUT)
    assert right.outcome is lockout.LoginOutcome.LOCKED
    # The lock ends by itself after lockout_minutes, and the count starts again.
    later = 1002 + 15 * 60 + 1
    again = lockout.authenticate(world.store, "carol", "wrong-password", ip=None, now=later,
                                 **LOCKOUT)
    assert again.outcome is lockout.LoginOutcome.BAD_CREDENTIALS
    assert users.get_user(world.store, "carol").failed_logins == 1
    assert lockout.authenticate(world.store, "carol", PASSWORDS["carol"], ip=None,
                                now=later + 1, **LOCKOUT).ok


def test_unknown_users_fail_like_wrong_passwords_and_are_audited(world):
    result = lockout.authenticate(world.store, "mallory", "whatever-password", ip="192.0.2.9",
                                  **LOCKOUT)
    assert result.outcome is lockout.LoginOutcome.BAD_CREDENTIALS and result.user is None
    (event,) = audit.query_events(world.store, kind="login.failed")
    assert (event.actor, event.ip, event.detail) == ("mallory", "192.0.2.9",
                                                     {"reason": "unknown user"})


def test_audit_queries_filter_by_kind_prefix_actor_ip_and_time(store):
    for at, kind, actor, ip in [(100, "login.failed", "bob", "192.0.2.1"),
                                (200, "login.succeeded", "bob", "192.0.2.1"),
                                (300, "token.created", "alice", "192.0.2.2"),
                                (400, "login_other", "carol", None)]:
        audit.record_event(store, kind, actor, ip, {"n": at}, now=at)
    assert [e.kind for e in audit.query_events(store, kind="login.*")] == \
        ["login.succeeded", "login.failed"]
    assert [e.detail["n"] for e in audit.query_events(store, actor="bob")] == [200, 100]
    assert [e.actor for e in audit.query_events(store, ip="192.0.2.2")] == ["alice"]
    assert [e.at for e in audit.query_events(store, since=200, until=400)] == [300, 200]
    first_page = audit.query_events(store, limit=2)
    second_page = audit.query_events(store, limit=2, before_id=first_page[-1].id)
    assert [e.at for e in first_page + second_page] == [400, 300, 200, 100]


def test_ip_blocks_expire_and_can_be_lifted(store):
    block_ip(store, "192.0.2.50", 60, "testing", now=1000)
    block_ip(store, "192.0.2.51", 600, "testing", now=1000)
    assert [b.ip for b in list_blocks(store, now=1100)] == ["192.0.2.51"]
    assert unblock_ip(store, "192.0.2.51") and not unblock_ip(store, "192.0.2.51")
    assert list_blocks(store, now=1100) == []


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(ades_env):
    """Run `ades ...` in-process against the test's database; returns the result."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, env=ades_env)

    return run


@pytest.fixture
def cli_store(ades_env, cli):
    """The CLI's database, opened by the test (after a first command created it)."""
    cli("users", "list")
    url = ades_env.get("GAIT_POSTGRES_URL") or f"sqlite:///{ades_env['GAIT_DATA_DIR']}/ades.db"
    with open_store(url) as store:
        yield store


def test_cli_creates_a_user_with_the_password_from_stdin(cli, cli_store):
    result = cli("users", "create", "Dave", "--role", "maintainer", input="dave-password\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created maintainer dave"
    user = users.get_user(cli_store, "dave")
    assert user.role == "maintainer"
    assert lockout.authenticate(cli_store, "dave", "dave-password", ip=None, **LOCKOUT).ok
    (event,) = audit.query_events(cli_store, kind="user.created")
    assert event.actor.startswith("cli") and event.detail == {"user": "dave",
                                                              "role": "maintainer"}


@pytest.mark.parametrize("args, stdin, code, message", [
    (("users", "create", "erin", "--role", "viewer"), "short\n", 2, "password too short"),
    (("users", "create", "erin", "--role", "root"), "erin-password\n", 2, "invalid role"),
    (("users", "create", "bad name", "--role", "viewer"), "erin-password\n", 2,
     "invalid user name"),
    (("users", "set-role", "nobody", "admin"), None, 3, "no such user: nobody"),
    (("users", "set-role", "erin", "boss"), None, 2, "invalid role"),
    (("users", "unlock", "nobody"), None, 3, "no such user"),
    (("tokens", "create", "--user", "nobody", "--scope", "read"), None, 3, "no such user"),
    (("tokens", "create", "--user", "erin", "--scope", "admin"), None, 2, "invalid scope"),
    (("tokens", "revoke", "999"), None, 3, "no such token: 999"),
    (("tokens", "revoke", "abc"), None, 2, "invalid token id"),
    (("tokens", "list", "--user", "nobody"), None, 3, "no such user"),
])
def test_cli_bad_input_is_a_one_line_error_that_changes_nothing(cli, cli_store, args, stdin,
                                                                 code, message):
    assert cli("users", "create", "erin", "--role", "viewer", input="erin-password\n")\
        .exit_code == 0
    before = (cli_store.query("SELECT * FROM users ORDER BY id"),
              cli_store.query("SELECT * FROM api_tokens ORDER BY id"))
    result = cli(*args, input=stdin)
    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ades: error: ") and message in lines[0]
    assert (cli_store.query("SELECT * FROM users ORDER BY id"),
            cli_store.query("SELECT * FROM api_tokens ORDER BY id")) == before


def test_cli_creating_an_existing_user_fails_and_keeps_the_old_password(cli, cli_store):
    cli("users", "create", "erin", "--role", "viewer", input="erin-password\n")
    result = cli("users", "create", "erin", "--role", "admin", input="other-password\n")
    assert result.exit_code == 2 and "already exists" in result.output
    assert users.get_user(cli_store, "erin").role == "viewer"
    assert lockout.authenticate(cli_store, "erin", "erin-password", ip=None, **LOCKOUT).ok


def test_cli_token_create_prints_only_the_token_and_revoke_disables_it(cli, cli_store):
    cli("users", "create", "erin", "--role", "viewer", input="erin-password\n")
    result = cli("tokens", "create", "--user", "erin", "--scope", "read", "--name", "laptop")
    assert result.exit_code == 0
    token = result.output.strip()
    assert result.output == token + "\n" and token.startswith("ades_")
    user, record, _ = tokens.resolve_token(cli_store, token)
    assert (user.username, record.scope, record.name) == ("erin", "read", "laptop")

    listed = json.loads(cli("tokens", "list", "--user", "erin", "--json").output)
    assert [t["name"] for t in listed["tokens"]] == ["laptop"] and token not in str(listed)
    revoked = cli("tokens", "revoke", str(record.id))
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    assert tokens.resolve_token(cli_store, token) is None
    assert [e.kind for e in audit.query_events(cli_store, kind="token.*")] == \
        ["token.revoked", "token.created"]


def test_cli_lists_users_changes_roles_and_unlocks_accounts(cli, cli_store):
    cli("users", "create", "erin", "--role", "viewer", input="erin-password\n")
    cli("users", "create", "frank", "--role", "admin", input="frank-password\n")
    for _ in range(5):
        lockout.authenticate(cli_store, "erin", "wrong-password", ip=None, max_attempts=5,
                             lockout_minutes=15)
    listed = json.loads(cli("users", "list", "--json").output)["users"]
    assert [(u["username"], u["role"], u["locked"]) for u in listed] == \
        [("erin", "viewer", True), ("frank", "admin", False)]
    assert "password" not in json.dumps(listed)

    assert cli("users", "set-role", "erin", "maintainer").output.strip() == \
        "erin: viewer -> maintainer"
    assert cli("users", "unlock", "ERIN").exit_code == 0
    erin = users.get_user(cli_store, "erin")
    assert (erin.role, erin.is_locked(), erin.failed_logins) == ("maintainer", False, 0)
    assert kinds_of(cli_store) == ["user.created", "user.created", "login.failed",
                                   "login.failed", "login.failed", "login.failed",
                                   "login.failed", "account.locked", "user.role_changed",
                                   "account.unlocked"]
    shown = json.loads(cli("audit", "--kind", "account.*", "--json").output)["events"]
    assert [e["kind"] for e in shown] == ["account.unlocked", "account.locked"]
    assert shown[0]["detail"]["user"] == "erin"


def kinds_of(store):
    return [e.kind for e in reversed(audit.query_events(store, limit=1000))]

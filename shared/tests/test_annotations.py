"""Annotations on both backends: threads, mentions, edit/resolve/delete rules, filters, and a
cursor per repository that replays exactly the changes after it."""

from __future__ import annotations

import threading

import pytest
from ades import annotations as ann
from ades.hardening import users
from ades.storage import open_store
from ades.storage.repositories import register_repository


@pytest.fixture
def store(backend, tmp_path, request):
    url = (request.getfixturevalue("postgres_url") if backend == "postgres"
           else f"sqlite:///{tmp_path}/ades.db")
    with open_store(url) as s:
        for name in ("alice", "bob"):
            users.create_user(s, name, f"{name}-password-long", "viewer")
        yield s


@pytest.fixture
def repos(store):
    return (register_repository(store, "payments", "/srv/payments").id,
            register_repository(store, "search", "/srv/search").id)


def test_a_thread_keeps_its_target_mentions_resolve_to_existing_users(store, repos):
    payments, _ = repos
    first = ann.create_annotation(store, payments, author="alice", target_kind="commit",
                                  target="abc1234", body="Ask @bob and @nobody, cc @Bob")
    assert first.cursor == 1 and first.kind == "annotation.created"
    assert first.annotation["mentions"] == ["bob"]
    reply = ann.create_annotation(store, payments, author="bob", target_kind=None, target=None,
                                  body="on it", thread_id=first.annotation["id"])
    nested = ann.create_annotation(store, payments, author="alice", target_kind=None,
                                   target=None, body="thanks", thread_id=reply.annotation["id"])
    assert reply.annotation["thread_id"] == nested.annotation["thread_id"] == first.annotation["id"]
    assert nested.annotation["target"] == {"kind": "commit", "id": "abc1234"}
    thread, total = ann.list_annotations(store, payments,
                                         ann.AnnotationFilters(thread_id=first.annotation["id"]))
    assert total == 3 and [a.author for a in thread] == ["alice", "bob", "alice"]


def test_only_authors_edit_authors_or_admins_delete_and_anyone_resolves(store, repos):
    payments, _ = repos
    note = ann.create_annotation(store, payments, author="alice", target_kind="file",
                                 target="src/app.py", body="hot path")
    ident = note.annotation["id"]
    with pytest.raises(ann.AnnotationForbidden):
        ann.edit_annotation(store, payments, ident, actor="bob", body="mine now")
    with pytest.raises(ann.AnnotationForbidden):
        ann.delete_annotation(store, payments, ident, actor="bob")
    edited = ann.edit_annotation(store, payments, ident, actor="alice", body="hot path, @bob")
    assert edited.annotation["body"] == "hot path, @bob" and edited.annotation["mentions"] == ["bob"]
    resolved = ann.resolve_annotation(store, payments, ident, actor="bob")
    assert resolved.annotation["resolved"] and resolved.annotation["resolved_by"] == "bob"
    deleted = ann.delete_annotation(store, payments, ident, actor="bob", is_admin=True)
    assert deleted.annotation["deleted"] and deleted.annotation["body"] == ""
    with pytest.raises(ann.AnnotationNotFound):
        ann.get_annotation(store, payments, ident)
    assert ann.get_annotation(store, payments, ident, include_deleted=True).deleted
    assert [c.kind for c in ann.changes_since(store, payments, 0)] == [
        "annotation.created", "annotation.updated", "annotation.resolved", "annotation.deleted"]


BAD_INPUT = [
    ("line", "x", "b", "target kind"),
    ("commit", "XYZ", "b", "hex sha"),
    ("experience", "12a", "b", "numeric"),
    ("file", "", "b", "non-empty"),
    ("file", "a\x00b", "b", "NUL"),
    ("file", "a.py", "   ", "body"),
    ("file", "a.py", "x" * (ann.MAX_BODY_CHARS + 1), "at most"),
    ("file", "a.py", 17, "body"),
]


def test_bad_input_is_refused_and_changes_nothing(store, repos):
    payments, _ = repos
    for kind, target, body, message in BAD_INPUT:
        with pytest.raises(ann.AnnotationError, match=message):
            ann.create_annotation(store, payments, author="alice", target_kind=kind,
                                  target=target, body=body)
    assert ann.current_cursor(store, payments) == 0
    assert ann.list_annotations(store, payments)[1] == 0


def test_a_reply_to_another_repositorys_annotation_is_not_found(store, repos):
    payments, search = repos
    note = ann.create_annotation(store, payments, author="alice", target_kind="commit",
                                 target="abcd", body="x")
    with pytest.raises(ann.AnnotationNotFound):
        ann.create_annotation(store, search, author="bob", target_kind=None, target=None,
                              body="y", thread_id=note.annotation["id"])


def test_filters_select_by_target_author_mention_and_resolution(store, repos):
    payments, search = repos
    ann.create_annotation(store, payments, author="alice", target_kind="commit", target="abcd",
                          body="see @bob")
    second = ann.create_annotation(store, payments, author="bob", target_kind="file",
                                   target="a_b.py", body="plain")
    ann.create_annotation(store, search, author="bob", target_kind="file", target="a_b.py",
                          body="other repo")
    ann.resolve_annotation(store, payments, second.annotation["id"], actor="alice")

    def ids(**filters):
        found, total = ann.list_annotations(store, payments, ann.AnnotationFilters(**filters))
        assert total == len(found)
        return [a.body for a in found]

    assert ids() == ["see @bob", "plain"]
    assert ids(target_kind="file", target="a_b.py") == ["plain"]
    assert ids(author="alice") == ["see @bob"]
    assert ids(mention="bob") == ["see @bob"]
    assert ids(mention="b_b") == []
    assert ids(resolved=True) == ["plain"]
    assert ids(resolved=False) == ["see @bob"]
    page, total = ann.list_annotations(store, payments, limit=1, offset=1)
    assert total == 2 and [a.body for a in page] == ["plain"]


def test_each_repository_has_its_own_gapless_cursor_even_with_concurrent_writers(store, repos):
    payments, search = repos
    errors = []

    def write(author, n):
        try:
            for i in range(n):
                ann.create_annotation(store, payments, author=author, target_kind="commit",
                                      target="abcd", body=f"{author} {i}")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name, 10)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ann.create_annotation(store, search, author="bob", target_kind="commit", target="abcd",
                          body="elsewhere")
    assert ann.current_cursor(store, payments) == 20
    assert ann.current_cursor(store, search) == 1
    assert [c.cursor for c in ann.changes_since(store, payments, 0)] == list(range(1, 21))
    missed = ann.changes_since(store, payments, 17)
    assert [c.cursor for c in missed] == [18, 19, 20]
    assert missed[0].to_message("payments") == {
        "type": "annotation.created", "v": 1, "repo": "payments", "cursor": 18,
        "annotation": missed[0].annotation}

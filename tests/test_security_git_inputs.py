"""Path traversal and git option injection through every field that reaches git or the disk.

Each payload that would run something names `evil.sh`, a script that creates a marker file;
after every attempt the marker must not exist. A secret repository and a sentinel file live
outside the allowed root; nothing a request returns may contain their text. Controls show the
payloads are live: plain `git log -p` on the hostile repository does create the marker.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from gitrepos import RepoBuilder, make_linear_repo
from security_world import (
    clear_gait_env,
    close,
    create_accounts,
    ingest_queued,
    logged_in,
    overrides,
    service_factory,
    store_of,
)

SENTINEL = "TOP-SECRET-SENTINEL-4242"
CATEGORY = "path traversal and git option injection"


@pytest.fixture
def world(tmp_path, monkeypatch):
    """ui, ide and viz apps on one SQLite database; "payments" ingested; the hostile pieces."""
    clear_gait_env(monkeypatch)
    root = tmp_path / "roots"
    outside = tmp_path / "outside"
    make_linear_repo(root / "payments", commits=12, files=6)
    secret = RepoBuilder(outside / "secret")
    secret.write("secret.txt", SENTINEL + "\n")
    secret.commit(f"add the {SENTINEL}")
    (outside / "sentinel.txt").write_text(SENTINEL + "\n")
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch '{marker}'\ncat\n")
    evil.chmod(0o755)
    config = overrides(tmp_path / "data", root)
    apps = {name: service_factory(name)(config) for name in ("ui", "ide", "viz")}
    create_accounts(apps["ui"])
    client, csrf = logged_in(apps["ui"], "mark")
    response = client.post("/api/repositories", json={"name": "payments", "path": str(root / "payments")},
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 202, response.get_data(as_text=True)
    ingest_queued(apps["ui"])
    yield {"apps": apps, "root": root, "outside": outside, "marker": marker, "evil": evil,
           "client": client, "csrf": csrf, "tmp": tmp_path}
    for app in apps.values():
        close(app)


def _repository_names(app) -> list[str]:
    return [row[0] for row in store_of(app).query("SELECT name FROM repositories ORDER BY name")]


def _leaks(body: bytes) -> bool:
    return SENTINEL.encode() in body or b"root:x:0:0" in body


def test_repository_paths_outside_the_roots_or_shaped_as_options_are_refused(world, attacks):
    root, outside, evil = world["root"], world["outside"], world["evil"]
    (root / "escape-link").symlink_to(outside / "secret")
    # A .git file, a worktree and an alternates entry keep the history outside the root.
    (root / "gitfile").mkdir()
    (root / "gitfile" / ".git").write_text(f"gitdir: {outside / 'secret' / '.git'}\n")
    subprocess.run(["git", "-C", str(outside / "secret"), "worktree", "add", "-q",
                    str(root / "worktree")], check=True, capture_output=True)
    borrowed = root / "borrowed"
    subprocess.run(["git", "clone", "-q", "--shared", str(outside / "secret"), str(borrowed)], check=True,
                   capture_output=True)
    payloads = {
        "relative ../../etc": "../../etc",
        "absolute path outside the roots": "/etc",
        "'..' climbing out of the root": f"{root}/../outside/secret",
        "symlink under the root pointing outside": str(root / "escape-link"),
        "a .git file (gitdir:) pointing outside": str(root / "gitfile"),
        "a worktree of a repository outside": str(root / "worktree"),
        "objects borrowed via alternates from outside": str(borrowed),
        "--upload-pack option": f"--upload-pack={evil}",
        "-c core.sshCommand option": f"-c core.sshCommand={evil}",
        "-C option to another directory": f"-C{outside / 'secret'}",
        "NUL byte truncation": f"{root}/payments\x00/../../outside",
        "home-relative ~root": "~root",
        "file:// URL given as a path": f"file://{outside / 'secret'}",
    }
    client, csrf = world["client"], world["csrf"]
    for label, path in payloads.items():
        response = client.post("/api/repositories", json={"name": "attempt", "path": path},
                               headers={"X-CSRF-Token": csrf})
        stored = "attempt" in _repository_names(world["apps"]["ui"])
        fired = world["marker"].exists()
        error = (response.get_json(silent=True) or {}).get("error", "")
        attacks.record(CATEGORY, f"register path: {label}", "POST /api/repositories",
                       expected="400, nothing stored, nothing run",
                       observed=f"{response.status_code} {error}; stored={stored}; marker={fired}",
                       passed=response.status_code == 400 and not stored and not fired)
    attacks.assert_all_refused()


def test_clone_urls_that_would_run_commands_are_refused_by_the_api_and_the_cli(world, attacks):
    evil, marker, tmp = world["evil"], world["marker"], world["tmp"]
    payloads = {
        "ext:: transport helper": f"ext::sh -c {evil}",
        "ext:: without spaces": f"ext::{evil}",
        "fd:: transport": "fd::17",
        "file:// (not in the allowed schemes)": f"file://{world['outside'] / 'secret'}",
        "--upload-pack option": f"--upload-pack={evil}",
        "-u short option": f"-u{evil}",
        "-- prefixed": "--",
        "ssh host -oProxyCommand": f"ssh://-oProxyCommand={evil}/x",
        "ssh user -oProxyCommand": f"ssh://-oProxyCommand={evil}@example.invalid/x",
        "scp-like host -oProxyCommand": "git@-oProxyCommand.example:repo.git",
        "ssh URL with a space and an option": f"ssh://example.invalid/x -oProxyCommand={evil}",
        "newline smuggling a second line": f"https://example.invalid/x.git\n--upload-pack={evil}",
        "unbalanced IPv6 bracket": "ssh://[example/x",
        "http (not in the allowed schemes)": "http://127.0.0.1:1/x.git",
    }
    client, csrf = world["client"], world["csrf"]
    env = {**os.environ, "GAIT_DATA_DIR": str(tmp / "cli-data")}
    for label, url in payloads.items():
        response = client.post("/api/repositories", json={"name": "attempt", "url": url},
                               headers={"X-CSRF-Token": csrf})
        stored = "attempt" in _repository_names(world["apps"]["ui"])
        error = (response.get_json(silent=True) or {}).get("error", "")
        attacks.record(CATEGORY, f"clone URL: {label}", "POST /api/repositories",
                       expected="400, nothing stored, nothing run",
                       observed=f"{response.status_code} {error}; stored={stored}; marker={marker.exists()}",
                       passed=response.status_code == 400 and not stored and not marker.exists())
        # After `--`, as a careful script passes untrusted input: the product, not click, must refuse.
        cli = subprocess.run([sys.executable, "-m", "ades", "ingest", "--name", "attempt", "--", url],
                             env=env, capture_output=True, text=True, timeout=60)
        one_line = len(cli.stderr.strip().splitlines()) == 1
        mirror_dir = tmp / "cli-data" / "repos"
        mirrors = list(mirror_dir.glob("*")) if mirror_dir.exists() else []
        attacks.record(CATEGORY, f"clone URL: {label}", "ades ingest URL",
                       expected="exit 2 with a one-line error, nothing cloned or run",
                       observed=f"exit {cli.returncode}; {cli.stderr.strip()[:80]}; mirrors={len(mirrors)}; "
                                f"marker={marker.exists()}",
                       passed=cli.returncode == 2 and one_line and not mirrors and not marker.exists())
    attacks.assert_all_refused()


def test_a_hostile_repositorys_own_config_and_refs_run_nothing_during_ingest(world, attacks):
    root, evil, marker, tmp = world["root"], world["evil"], world["marker"], world["tmp"]
    hostile = RepoBuilder(root / "hostile")
    hostile.write(".gitattributes", "* diff=evil\n")
    hostile.write("a.txt", "one\n")
    hostile.commit("one")
    hostile.write("a.txt", "one\ntwo\n")
    hostile.commit("two")
    for key in ("diff.evil.textconv", "diff.evil.command", "diff.external", "core.fsmonitor",
                "core.pager", "core.sshCommand", "gpg.program", "core.editor", "sequence.editor"):
        hostile.git("config", key, str(evil))
    hostile.git("config", "log.showSignature", "true")
    hostile.git("config", "core.hooksPath", str(tmp))
    # HEAD on a branch whose name reads as a git option writing a file.
    out_file = tmp / "OUT"
    branch = f"refs/heads/--output={out_file}"
    hostile.git("update-ref", branch, "HEAD")
    hostile.git("symbolic-ref", "HEAD", branch)

    client, csrf = world["client"], world["csrf"]
    response = client.post("/api/repositories", json={"name": "hostile", "path": str(root / "hostile")},
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 202, response.get_data(as_text=True)
    ingest_queued(world["apps"]["ui"])
    stats = client.get("/api/repositories/hostile/stats").get_json()
    attacks.record(CATEGORY, "repository config: textconv, external diff, fsmonitor, pager, sshCommand, "
                   "gpg.program, hooksPath", "registration + worker ingest",
                   expected="ingested, nothing run",
                   observed=f"commits={stats.get('commits')}; marker={marker.exists()}",
                   passed=stats.get("commits") == 2 and not marker.exists())
    attacks.record(CATEGORY, "HEAD on branch named --output=FILE", "registration + worker ingest",
                   expected="branch name is data, no file written",
                   observed=f"OUT exists={out_file.exists()}", passed=not out_file.exists())
    cli = subprocess.run([sys.executable, "-m", "ades", "ingest", str(root / "hostile"), "--json"],
                         env={**os.environ, "GAIT_DATA_DIR": str(tmp / "cli-data")},
                         capture_output=True, text=True, timeout=120)
    attacks.record(CATEGORY, "repository config + --output branch", "ades ingest PATH",
                   expected="ingested, nothing run",
                   observed=f"exit {cli.returncode}; marker={marker.exists()}; OUT={out_file.exists()}",
                   passed=cli.returncode == 0 and not marker.exists() and not out_file.exists())
    # The control: git's own porcelain honours the same config, so the payload is live.
    subprocess.run(["git", "-C", str(root / "hostile"), "log", "-p", "-1"], capture_output=True,
                   env={**os.environ, "GIT_PAGER": "cat"})
    assert marker.exists(), "control failed: plain git log -p should have run the textconv payload"
    attacks.assert_all_refused()


def test_refs_named_in_urls_are_looked_up_as_data_never_passed_to_git(world, attacks):
    client, evil = world["client"], world["evil"]
    refs = [f"--output={world['tmp'] / 'OUT'}", f"--upload-pack={evil}", "HEAD", "HEAD~1", "main",
            "..%2F..%2Fetc%2Fpasswd", "-c%20core.pager=sh", "@{-1}", "a" * 41]
    for ref in refs:
        for url in (f"/api/repositories/payments/commits/{ref}", f"/repos/payments/commits/{ref}",
                    f"/api/experiences/payments/{ref}"):
            response = client.get(url)
            fired = (world["tmp"] / "OUT").exists() or world["marker"].exists()
            attacks.record(CATEGORY, f"ref {ref!r}", f"GET {url.replace(ref, '<ref>')}",
                           expected="400/404 (only stored hashes resolve); nothing run or written",
                           observed=f"{response.status_code}; leaked={_leaks(response.data)}; "
                                    f"file written or script run={fired}",
                           passed=response.status_code in (400, 404) and not _leaks(response.data)
                           and not fired)
    attacks.assert_all_refused()


def test_file_paths_and_diffs_sent_to_the_ide_never_reach_the_filesystem_or_git(world, attacks):
    ide = world["apps"]["ide"]
    client, csrf = logged_in(ide, "vera")
    outside = world["outside"]
    traversal_paths = ["../../../../etc/passwd", str(outside / "sentinel.txt"), "/etc/passwd",
                       "src/../../outside/sentinel.txt", "--output=/tmp/ades-owned", "-c core.pager=sh",
                       "src/%2e%2e/%2e%2e/etc/passwd", "C:\\Windows\\win.ini", "\\\\host\\share\\x"]
    for path in traversal_paths:
        response = client.post("/ide/context", json={"repo": "payments", "path": path},
                               headers={"X-CSRF-Token": csrf})
        attacks.record(CATEGORY, f"file path {path!r}", "POST /ide/context",
                       expected="4xx or an empty answer from stored history; no file content",
                       observed=f"{response.status_code}; leaked={_leaks(response.data)}",
                       passed=response.status_code < 500 and not _leaks(response.data))
        response = client.post("/ide/similar", json={"repo": "payments", "path": path, "text": "x"},
                               headers={"X-CSRF-Token": csrf})
        attacks.record(CATEGORY, f"file path {path!r}", "POST /ide/similar",
                       expected="4xx or an answer from stored history; no file content",
                       observed=f"{response.status_code}; leaked={_leaks(response.data)}",
                       passed=response.status_code < 500 and not _leaks(response.data))
    diffs = {
        "traversal in diff headers": "diff --git a/../../etc/passwd b/../../etc/passwd\n"
                                     "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
        "absolute outside path": f"--- a/{outside}/sentinel.txt\n+++ b/{outside}/sentinel.txt\n"
                                 "@@ -1 +1 @@\n-x\n+y\n",
        "option-shaped file names": "diff --git a/--output=/tmp/x b/--upload-pack=sh\n"
                                    "--- a/--output=/tmp/x\n+++ b/--upload-pack=sh\n@@ -0,0 +1 @@\n+z\n",
        "git binary patch literal": "diff --git a/x.bin b/x.bin\nGIT binary patch\nliteral 5\n"
                                    "Mc${NkU|`6A00}Gc0RR91\n\n",
    }
    for label, diff in diffs.items():
        response = client.post("/ide/review", json={"repo": "payments", "diff": diff},
                               headers={"X-CSRF-Token": csrf})
        attacks.record(CATEGORY, f"review diff: {label}", "POST /ide/review",
                       expected="4xx or suggestions from stored history; no file content, nothing written",
                       observed=f"{response.status_code}; leaked={_leaks(response.data)}",
                       passed=response.status_code < 500 and not _leaks(response.data))
    assert not world["marker"].exists()
    attacks.assert_all_refused()


def test_viz_path_filters_and_export_names_stay_inside_the_stored_history(world, attacks):
    viz = world["apps"]["viz"]
    client, _ = logged_in(viz, "vera")
    for path in ("../../../../etc", str(world["outside"]), "..%2f..%2fetc", "%", "_", "src/../.."):
        for view in ("hotspots", "churn", "ownership"):
            response = client.get(f"/viz/api/{view}", query_string={"repo": "payments", "path": path,
                                                                     "format": "csv", "download": "1"})
            attacks.record(CATEGORY, f"viz path filter {path!r}", f"GET /viz/api/{view}",
                           expected="4xx or rows from stored history only",
                           observed=f"{response.status_code}; leaked={_leaks(response.data)}",
                           passed=response.status_code < 500 and not _leaks(response.data))
    for repo in ("../../etc/passwd", 'payments"; filename="evil.sh', "payments\r\nX-Injected: 1"):
        response = client.get("/viz/api/churn", query_string={"repo": repo, "download": "1"})
        disposition = response.headers.get("Content-Disposition", "")
        attacks.record(CATEGORY, f"export name from repo {repo!r}", "GET /viz/api/churn?download=1",
                       expected="4xx, no attachment named by the input",
                       observed=f"{response.status_code}; disposition={disposition!r}",
                       passed=400 <= response.status_code < 500 and "evil" not in disposition
                       and "X-Injected" not in str(response.headers))
    response = client.get("/viz/api/churn", query_string={"repo": "payments", "download": "1"})
    disposition = response.headers.get("Content-Disposition", "")
    attacks.record(CATEGORY, "export file name of a real download", "GET /viz/api/churn?download=1",
                   expected="a plain file name, no directory part",
                   observed=disposition, passed=response.status_code == 200
                   and disposition.startswith('attachment; filename="payments-churn.')
                   and "/" not in disposition)
    attacks.assert_all_refused()


def _malicious_backup(source: Path, target: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    """A copy of the real backup `source` with `extra` members appended."""
    with tarfile.open(source, "r:gz") as original, tarfile.open(target, "w:gz") as tar:
        for member in original.getmembers():
            tar.addfile(member, original.extractfile(member) if member.isfile() else None)
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _member(name: str, data: bytes | None = b"pwned\n", *, kind: bytes = tarfile.REGTYPE,
            link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def test_restore_never_writes_outside_the_data_directory(tmp_path, monkeypatch, attacks):
    clear_gait_env(monkeypatch)
    data = tmp_path / "data"
    env = {**os.environ, "GAIT_DATA_DIR": str(data)}
    victim = tmp_path / "victim"
    victim.mkdir()
    ades = [sys.executable, "-m", "ades"]
    assert subprocess.run([*ades, "db", "upgrade"], env=env, capture_output=True).returncode == 0
    good = tmp_path / "good.tar.gz"
    made = subprocess.run([*ades, "backup", "--output", str(good)], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    archives = {
        "member ../ climbing out": [_member(f"data/../../{victim.name}/dotdot.txt")],
        "absolute member path": [_member(str(victim / "absolute.txt"))],
        "symlink to outside, then a file through it": [
            _member("data/escape", kind=tarfile.SYMTYPE, link=str(victim)),
            _member("data/escape/through-link.txt")],
        "relative symlink climbing out": [
            _member("data/up", kind=tarfile.SYMTYPE, link="../../victim"),
            _member("data/up/relative-link.txt")],
        "hard link to /etc/passwd": [_member("data/passwd", kind=tarfile.LNKTYPE, link="/etc/passwd")],
        "device node": [_member("data/null", kind=tarfile.CHRTYPE)],
    }
    for label, members in archives.items():
        archive = tmp_path / f"{label.replace(' ', '-').replace('/', '_')}.tar.gz"
        _malicious_backup(good, archive, members)
        result = subprocess.run([*ades, "restore", str(archive), "--force"], env=env, capture_output=True,
                                text=True, timeout=60)
        written = sorted(p.name for p in victim.iterdir())
        leaked = (data / "passwd").exists() and b"root:" in (data / "passwd").read_bytes()
        attacks.record(CATEGORY, f"restore archive: {label}", "ades restore ARCHIVE --force",
                       expected="refused (one-line error) or the member skipped; nothing outside data/",
                       observed=f"exit {result.returncode}; ...{result.stderr.strip()[-70:]}; "
                                f"outside files={written}; passwd copied={leaked}",
                       passed=not written and not leaked and result.returncode in (0, 1, 2)
                       and len(result.stderr.strip().splitlines()) <= 1)
    outputs = {"option-shaped output name": "--force",
               "output into a missing directory": str(tmp_path / "no" / "such" / "b.tgz")}
    for label, output in outputs.items():
        result = subprocess.run([*ades, "backup", "--output", output], env=env, capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
        attacks.record(CATEGORY, f"backup path: {label}", f"ades backup --output {output}",
                       expected="a one-line error or a file at exactly that path; never a traceback",
                       observed=f"exit {result.returncode}; {result.stderr.strip()[:90]}",
                       passed="Traceback" not in result.stderr and (
                           result.returncode == 0 or len(result.stderr.strip().splitlines()) == 1))
    assert json.loads(subprocess.run([*ades, "users", "list", "--json"], env=env, capture_output=True,
                                     text=True).stdout)["users"] == []
    attacks.assert_all_refused()

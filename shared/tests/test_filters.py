"""Which changed files get content analysis: binary, vendored, generated and huge ones do not."""

from __future__ import annotations

import pytest
from ades.analysis.filters import HUGE_CHANGE_LINES, skip_reason


@pytest.mark.parametrize(
    "path",
    [
        "ades/cli.py",
        "cmd/server/main.go",
        "web/src/App.tsx",
        "deploy/Dockerfile",
        "build/Dockerfile",
        "build/package.sh",
        "db/migrations/0001_init.sql",
        "src/vendoring.py",
        "src/external_api.py",
        "docs/roadmap.md",
        "package.json",
        "go.mod",
        "requirements.txt",
    ],
)
def test_it_analyses_ordinary_source_files(path):
    assert skip_reason(path, added=40, deleted=10, is_binary=False) == ""


@pytest.mark.parametrize(
    "path",
    [
        "vendor/github.com/pkg/errors/errors.go",
        "third_party/zlib/inflate.c",
        "web/node_modules/lodash/lodash.js",
        "static/bower_components/jquery/jquery.js",
        ".yarn/releases/yarn-3.6.0.cjs",
        "Godeps/_workspace/src/golang.org/x/net/context.go",
        "external/googletest/src/gtest.cc",
        "src/Vendor/Acme/Client.php",
    ],
)
def test_it_skips_vendored_code(path):
    assert skip_reason(path, added=10, deleted=0, is_binary=False) == "vendored"


@pytest.mark.parametrize(
    "path",
    [
        "package-lock.json",
        "web/yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Cargo.lock",
        "go.sum",
        "Gemfile.lock",
        "static/js/app.min.js",
        "static/css/site.min.css",
        "ades/proto/commits_pb2.py",
        "api/v1/commits.pb.go",
        "src/schema.generated.ts",
        "dist/bundle.js",
        "web/dist/index.html",
        "build/static/js/main.js",
        "static/js/app.js.map",
        "web/src/__snapshots__/Button.test.tsx.snap",
        "pkg/apis/v1/zz_generated.deepcopy.go",
    ],
)
def test_it_skips_generated_files(path):
    assert skip_reason(path, added=10, deleted=2, is_binary=False) == "generated"


def test_it_skips_binary_files_before_anything_else():
    assert skip_reason("assets/logo.png", 0, 0, is_binary=True) == "binary"
    assert skip_reason("vendor/lib/tool.so", 0, 0, is_binary=True) == "binary"


def test_it_reports_vendored_before_generated():
    assert skip_reason("node_modules/pkg/dist/index.min.js", 10, 0, False) == "vendored"


def test_it_reports_generated_before_huge():
    assert skip_reason("package-lock.json", 20_000, 19_000, False) == "generated"


@pytest.mark.parametrize(
    ("added", "deleted", "reason"),
    [
        (HUGE_CHANGE_LINES, 0, ""),
        (HUGE_CHANGE_LINES - 1, 1, ""),
        (HUGE_CHANGE_LINES + 1, 0, "huge"),
        (3000, 2001, "huge"),
        (0, 0, ""),
    ],
)
def test_it_skips_huge_changes_above_the_line_threshold(added, deleted, reason):
    assert HUGE_CHANGE_LINES == 5000
    assert skip_reason("ades/cli.py", added, deleted, is_binary=False) == reason


def test_it_matches_directory_names_case_insensitively():
    assert skip_reason("THIRD_PARTY/lib.c", 1, 0, False) == "vendored"
    assert skip_reason("Dist/app.js", 1, 0, False) == "generated"


def test_it_only_matches_whole_directory_components():
    assert skip_reason("src/vendored_helpers/util.py", 1, 0, False) == ""
    assert skip_reason("distribution/setup.py", 1, 0, False) == ""
    assert skip_reason("builder/main.go", 1, 0, False) == ""

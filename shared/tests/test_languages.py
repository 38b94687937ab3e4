"""Language, test-file and doc-file recognition from repository paths."""

from __future__ import annotations

import pytest
from ades.analysis.languages import is_doc_path, is_test_path, language_for_path


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("ades/cli.py", "python"),
        ("typings/stubs.pyi", "python"),
        ("cmd/server/main.go", "go"),
        ("web/src/index.js", "javascript"),
        ("web/src/App.jsx", "javascript"),
        ("scripts/build.mjs", "javascript"),
        ("config/webpack.cjs", "javascript"),
        ("web/src/api.ts", "typescript"),
        ("web/src/components/Button.tsx", "typescript"),
        ("web/src/types/global.d.ts", "typescript"),
        ("src/main/java/com/acme/App.java", "java"),
        ("src/parser.c", "c"),
        ("include/parser.h", "c"),
        ("src/engine.cpp", "cpp"),
        ("src/engine.cc", "cpp"),
        ("src/engine.cxx", "cpp"),
        ("include/engine.hpp", "cpp"),
        ("include/engine.hh", "cpp"),
        ("db/migrations/0001_init.sql", "sql"),
        ("scripts/deploy.sh", "shell"),
        ("scripts/setup.bash", "shell"),
        ("dotfiles/aliases.zsh", "shell"),
        ("Dockerfile", "dockerfile"),
        ("deploy/Dockerfile.prod", "dockerfile"),
        ("images/api.dockerfile", "dockerfile"),
        ("Containerfile", "dockerfile"),
        ("Makefile", "makefile"),
        ("GNUmakefile", "makefile"),
        ("build/rules.mk", "makefile"),
        ("docker-compose.yml", "yaml"),
        ("deploy/k8s/deployment.yaml", "yaml"),
        (".github/workflows/ci.yml", "yaml"),
        ("lib/acme/client.rb", "ruby"),
        ("Gemfile", "ruby"),
        ("src/lib.rs", "rust"),
        ("Api/Controllers/UsersController.cs", "csharp"),
        ("app/src/main/kotlin/Main.kt", "kotlin"),
        ("build.gradle.kts", "kotlin"),
        ("public/index.php", "php"),
        ("README.md", "markdown"),
        ("docs/guide.markdown", "markdown"),
        ("package.json", "json"),
        ("pyproject.toml", "toml"),
        ("web/index.html", "html"),
        ("web/styles/site.css", "css"),
        ("web/styles/site.scss", "css"),
        ("tools/report.pl", "perl"),
        ("lib/Acme/Util.pm", "perl"),
        ("requirements.txt", "text"),
        ("docs/index.rst", "text"),
        ("docs/manual.adoc", "text"),
    ],
)
def test_it_maps_a_path_to_its_language(path, language):
    assert language_for_path(path) == language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("SRC/MAIN.PY", "python"),
        ("web/App.TSX", "typescript"),
        ("scripts/Deploy.SH", "shell"),
        ("makefile", "makefile"),
        ("DOCKERFILE", "dockerfile"),
        ("README.MD", "markdown"),
    ],
)
def test_it_ignores_the_case_of_names_and_extensions(path, language):
    assert language_for_path(path) == language


@pytest.mark.parametrize(
    "path",
    ["", "bin/run", "assets/logo.png", "data/blob.bin", ".gitignore", "archive.tar.gz", "x."],
)
def test_it_returns_an_empty_id_for_unknown_files(path):
    assert language_for_path(path) == ""


def test_it_only_looks_at_the_basename_not_the_directories():
    assert language_for_path("python.py/notes/file.go") == "go"
    assert language_for_path("Dockerfile/entrypoint.sh") == "shell"


def test_it_recognises_non_ascii_paths():
    assert language_for_path("docs/résumé/überblick.md") == "markdown"
    assert language_for_path("src/模块/处理.py") == "python"


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_client.py",
        "shared/tests/conftest.py",
        "ades/test_retry.py",
        "ades/retry_test.py",
        "pkg/http/client_test.go",
        "web/src/api.spec.ts",
        "web/src/Button.test.tsx",
        "web/src/__tests__/Button.jsx",
        "src/test/java/com/acme/AppTest.java",
        "app/src/test/kotlin/MainTest.kt",
        "spec/models/user_spec.rb",
        "internal/parser/testdata/input.json",
        "Api.Tests/UsersControllerTests.cs",
    ],
)
def test_it_recognises_test_files(path):
    assert is_test_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "ades/cli.py",
        "src/main/java/com/acme/Latest.java",
        "ades/testimony.py",
        "ades/contest.py",
        "web/src/specification.ts",
        "latest/notes.md",
        "attestation/verify.go",
    ],
)
def test_it_does_not_mistake_lookalike_names_for_tests(path):
    assert not is_test_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "README",
        "CHANGELOG.md",
        "CONTRIBUTING.rst",
        "LICENSE",
        "docs/index.md",
        "docs/conf.py",
        "doc/api.txt",
        "guides/deploy.adoc",
        "services/gateway/README.md",
    ],
)
def test_it_recognises_documentation(path):
    assert is_doc_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "requirements.txt",
        "requirements-dev.txt",
        "CMakeLists.txt",
        "ades/cli.py",
        "ades/security.py",
        "package.json",
        "docker/Dockerfile",
    ],
)
def test_it_does_not_treat_build_inputs_or_code_as_documentation(path):
    assert not is_doc_path(path)

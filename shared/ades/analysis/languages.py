"""Language, test and documentation recognition for repository paths.

Every function here runs once per file change of every mined commit, so they are plain dict
and set lookups on the basename and extension: no regular expressions, no filesystem access.
"""

from __future__ import annotations

# Whole basenames (lowercased) that name their language without an extension.
_BY_NAME: dict[str, str] = {
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "makefile": "makefile",
    "gnumakefile": "makefile",
    "bsdmakefile": "makefile",
    "gemfile": "ruby",
    "rakefile": "ruby",
    "guardfile": "ruby",
    "podfile": "ruby",
    "vagrantfile": "ruby",
    "brewfile": "ruby",
    "pipfile": "toml",
    ".bashrc": "shell",
    ".bash_profile": "shell",
    ".bash_logout": "shell",
    ".profile": "shell",
    ".zshrc": "shell",
    ".zprofile": "shell",
    ".zshenv": "shell",
    ".envrc": "shell",
    "pkgbuild": "shell",
    "readme": "text",
    "license": "text",
    "licence": "text",
    "copying": "text",
    "authors": "text",
    "contributors": "text",
    "changelog": "text",
    "changes": "text",
    "news": "text",
    "notice": "text",
}

# Basename stems (text before the first dot) for variants such as Dockerfile.prod or
# Makefile.am, consulted only when the extension itself names no language.
_BY_STEM: dict[str, str] = {
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "makefile": "makefile",
    "gnumakefile": "makefile",
}

_BY_EXTENSION: dict[str, str] = {
    "py": "python",
    "pyi": "python",
    "pyw": "python",
    "go": "go",
    "js": "javascript",
    "jsx": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "java": "java",
    "c": "c",
    "h": "c",
    "cc": "cpp",
    "cpp": "cpp",
    "cxx": "cpp",
    "c++": "cpp",
    "hh": "cpp",
    "hpp": "cpp",
    "hxx": "cpp",
    "h++": "cpp",
    "ipp": "cpp",
    "tpp": "cpp",
    "inl": "cpp",
    "sql": "sql",
    "psql": "sql",
    "pgsql": "sql",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "ksh": "shell",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "yml": "yaml",
    "yaml": "yaml",
    "rb": "ruby",
    "rake": "ruby",
    "gemspec": "ruby",
    "rs": "rust",
    "cs": "csharp",
    "csx": "csharp",
    "kt": "kotlin",
    "kts": "kotlin",
    "php": "php",
    "phtml": "php",
    "md": "markdown",
    "markdown": "markdown",
    "mdx": "markdown",
    "json": "json",
    "jsonc": "json",
    "json5": "json",
    "toml": "toml",
    "mk": "makefile",
    "mak": "makefile",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "css": "css",
    "scss": "css",
    "sass": "css",
    "less": "css",
    "pl": "perl",
    "pm": "perl",
    "txt": "text",
    "text": "text",
    "rst": "text",
    "adoc": "text",
    "asciidoc": "text",
}

# Directory names that hold tests, in any language's convention.
_TEST_DIRS = frozenset(
    {"test", "tests", "__tests__", "testing", "testdata", "spec", "specs", "e2e", "__mocks__"}
)
# Lowercased basename endings that mark a test file wherever it lives.
_TEST_SUFFIXES = (
    "_test.go",
    "_test.py",
    "_tests.py",
    "_spec.rb",
    "_test.rb",
    "_test.rs",
    "_test.c",
    "_test.cc",
    "_test.cpp",
    "_unittest.cc",
    "_test.exs",
    ".test.js",
    ".test.jsx",
    ".test.mjs",
    ".test.ts",
    ".test.tsx",
    ".spec.js",
    ".spec.jsx",
    ".spec.mjs",
    ".spec.ts",
    ".spec.tsx",
    ".bats",
)
# Case-sensitive endings: JUnit/xUnit naming is CamelCase, and lowercasing would turn
# "Latest.java" into a test.
_TEST_CAMEL_SUFFIXES = (
    "Test.java",
    "Tests.java",
    "IT.java",
    "TestCase.java",
    "Test.kt",
    "Tests.kt",
    "Test.cs",
    "Tests.cs",
    "Test.php",
    "Spec.scala",
    "Test.scala",
)
_TEST_NAMES = frozenset({"conftest.py"})

_DOC_DIRS = frozenset({"doc", "docs", "documentation", "man", "manual", "wiki"})
_DOC_STEMS = frozenset(
    {
        "readme",
        "changelog",
        "changes",
        "history",
        "news",
        "contributing",
        "authors",
        "contributors",
        "license",
        "licence",
        "copying",
        "notice",
        "code_of_conduct",
        "security",
        "support",
        "maintainers",
        "codeowners",
        "upgrading",
        "migration",
    }
)
_DOC_EXTENSIONS = frozenset({"md", "markdown", "mdx", "rst", "adoc", "asciidoc", "txt", "text"})
# Plain-text files that are build inputs, not prose.
_NOT_DOC_TEXT_NAMES = frozenset(
    {"cmakelists.txt", "constraints.txt", "robots.txt", "requirements.txt", "llms.txt"}
)


def _basename(path: str) -> str:
    return path[path.rfind("/") + 1 :]


def language_for_path(path: str) -> str:
    """Return the language id of a repository path, or "" when it is not recognised.

    The basename decides first (Dockerfile, Makefile, Gemfile...), then the lowercased
    extension, then the stem for variants such as ``Dockerfile.prod`` or ``Makefile.am``.
    """
    name = _basename(path).lower()
    language = _BY_NAME.get(name)
    if language is not None:
        return language
    dot = name.rfind(".")
    if dot < 0:
        return ""
    language = _BY_EXTENSION.get(name[dot + 1 :])
    if language is not None:
        return language
    return _BY_STEM.get(name[: name.find(".")], "")


def is_test_path(path: str) -> bool:
    """Return True when the path is a test, a test fixture or test configuration.

    Recognises test directories (``tests/``, ``__tests__/``, ``src/test/java``, ``testdata/``)
    and test file names (``test_*.py``, ``*_test.go``, ``*.spec.ts``, ``FooTest.java``...).
    """
    parts = path.split("/")
    name = parts[-1]
    if any(directory.lower() in _TEST_DIRS for directory in parts[:-1]):
        return True
    if name.endswith(_TEST_CAMEL_SUFFIXES):
        return True
    lower = name.lower()
    if lower in _TEST_NAMES or lower.endswith(_TEST_SUFFIXES):
        return True
    return lower.startswith("test_") and lower.endswith(".py")


def is_doc_path(path: str) -> bool:
    """Return True when the path is documentation: prose files, doc folders, READMEs.

    Plain-text build inputs such as ``requirements.txt`` or ``CMakeLists.txt`` are not docs.
    """
    parts = path.split("/")
    lower = parts[-1].lower()
    dot = lower.find(".", 1)
    stem = lower if dot < 0 else lower[:dot]
    extension = lower[lower.rfind(".") + 1 :] if dot >= 0 else ""
    if extension == "txt" and (lower in _NOT_DOC_TEXT_NAMES or lower.startswith("requirements")):
        return False
    if stem in _DOC_STEMS and (dot < 0 or extension in _DOC_EXTENSIONS):
        return True
    if extension in _DOC_EXTENSIONS:
        return True
    return any(directory.lower() in _DOC_DIRS for directory in parts[:-1])

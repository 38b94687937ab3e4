"""Which changed files get content analysis (patterns, functions) and which are only counted.

Skipped files still count in every statistic (churn, frequency, ownership); `skip_reason` only
keeps lockfiles, bundles, vendored trees and giant diffs out of the pattern detectors, where
they would cost time and drown real code in noise.
"""

from __future__ import annotations

HUGE_CHANGE_LINES = 5000
"""A file whose added+deleted lines exceed this is a bulk change (import, rewrite, dump)."""

_VENDOR_DIRS = frozenset(
    {
        "vendor",
        "vendors",
        "third_party",
        "third-party",
        "thirdparty",
        "3rdparty",
        "node_modules",
        "bower_components",
        "jspm_packages",
        ".yarn",
        ".pnpm-store",
        "godeps",
        "external",
        "externals",
        "site-packages",
        ".bundle",
    }
)

_GENERATED_NAMES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "pipfile.lock",
        "pdm.lock",
        "uv.lock",
        "cargo.lock",
        "go.sum",
        "gemfile.lock",
        "composer.lock",
        "mix.lock",
        "podfile.lock",
        "pubspec.lock",
        "packages.lock.json",
        "gradle.lockfile",
        "flake.lock",
        "package.resolved",
    }
)

_GENERATED_SUFFIXES = (
    ".min.js",
    ".min.css",
    ".min.mjs",
    ".bundle.js",
    ".chunk.js",
    ".map",
    ".snap",
    "_pb2.py",
    "_pb2.pyi",
    "_pb2_grpc.py",
    ".pb.go",
    ".pb.gw.go",
    ".pb.cc",
    ".pb.h",
    "_pb.js",
    "_pb.d.ts",
    "_grpc_pb.js",
    ".g.dart",
    ".freezed.dart",
    ".designer.cs",
    ".g.cs",
    "_generated.go",
    ".pyc",
)

_GENERATED_PREFIXES = ("zz_generated.",)

# Directories whose whole content is produced by a tool.
_OUTPUT_DIRS = frozenset({"dist", "__snapshots__", "__generated__", "generated"})

# `build/` is ambiguous: frontends commit compiled bundles there, while Go and C projects keep
# hand-written packaging scripts and Dockerfiles there. Only artifact-looking files in `build/`
# count as generated.
_BUILD_ARTIFACT_EXTENSIONS = frozenset(
    {"js", "mjs", "cjs", "css", "html", "map", "class", "o", "obj", "a", "so", "jar", "wasm"}
)


def skip_reason(path: str, added: int, deleted: int, is_binary: bool) -> str:
    """Say why a changed file gets no content analysis, or return "" when it should get it.

    Reasons, first match wins: "binary", "vendored" (a vendor/third_party/node_modules...
    path component), "generated" (lockfiles, minified or compiled output, protobuf stubs,
    snapshots, dist/ output), "huge" (more than HUGE_CHANGE_LINES added+deleted lines).
    """
    if is_binary:
        return "binary"
    parts = path.lower().split("/")
    name = parts[-1]
    directories = parts[:-1]
    if any(directory in _VENDOR_DIRS for directory in directories):
        return "vendored"
    if _is_generated(name, directories):
        return "generated"
    if added + deleted > HUGE_CHANGE_LINES:
        return "huge"
    return ""


def _is_generated(name: str, directories: list[str]) -> bool:
    if name in _GENERATED_NAMES or name.endswith(_GENERATED_SUFFIXES):
        return True
    if name.startswith(_GENERATED_PREFIXES) or ".generated." in name:
        return True
    for directory in directories:
        if directory in _OUTPUT_DIRS:
            return True
        if directory == "build" and name[name.rfind(".") + 1 :] in _BUILD_ARTIFACT_EXTENSIONS:
            return True
    return False

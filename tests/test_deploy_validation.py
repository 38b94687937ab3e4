"""The deployment files pass the real validators (the same checks as `make check-deploy`).

A missing tool fails its test: `make deploy-tools` installs them, and CI must not pass
by skipping a validator. Only `docker compose config` is skipped where the compose
plugin is absent (no Docker engine on these machines).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import check_deploy
import pytest


@pytest.mark.parametrize("name", [n for n in check_deploy.CHECKS if n != "compose"])
def test_the_deployment_files_pass_each_validator(name):
    result = check_deploy.run_check(name)
    assert result.ok, f"{result.name}:\n{result.output}"


@pytest.mark.skipif(not check_deploy.compose_available(), reason="the docker compose plugin is not installed")
def test_docker_compose_accepts_the_compose_file():
    result = check_deploy.run_check("compose")
    assert result.ok, result.output


def test_nginx_rejects_a_broken_gateway_config(tmp_path):
    # The nginx check would be worthless if nginx -t accepted anything.
    import render

    values = render.target_values("local", tmp_path)
    broken = render.render(values).replace("proxy_pass http://ades_viz;", "proxy_pass http://ades_nowhere;")
    conf = tmp_path / "nginx.conf"
    conf.write_text(broken)
    result = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-c",
                             str(conf), "-e", str(tmp_path / "e.log")], capture_output=True, text=True)
    assert result.returncode != 0
    assert "ades_nowhere" in result.stderr


def test_the_validators_find_a_planted_problem(tmp_path, monkeypatch):
    # A Dockerfile running as root with a shell-form command: hadolint and checkov object.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y git\nCMD python app.py\n")
    monkeypatch.setattr(check_deploy, "DOCKERFILES", [bad])
    hadolint = check_deploy.run_check("hadolint")
    assert not hadolint.ok and "DL3007" in hadolint.output  # the `latest` tag
    checkov = check_deploy.run_check("checkov")
    assert not checkov.ok
    assert "FAILED CKV_DOCKER_3" in checkov.output  # no non-root user


def test_check_deploy_exits_non_zero_when_a_tool_is_missing(monkeypatch):
    monkeypatch.setattr(check_deploy, "VENV_BIN", check_deploy.ROOT / "no-such-venv")
    monkeypatch.setenv("PATH", "/nonexistent")
    result = check_deploy.run_check("hadolint")
    assert not result.ok and "not installed" in result.output


def test_the_gateway_renders_identically_from_its_command_line(tmp_path):
    import render

    out = tmp_path / "k8s.conf"
    subprocess.run([sys.executable, str(check_deploy.ROOT / "gateway" / "render.py"), "kubernetes",
                    "--out", str(out)], check=True)
    assert out.read_text() == render.render(render.target_values("kubernetes"))
    assert "server ades-ide:8081;" in out.read_text()


def test_render_refuses_an_unknown_field():
    result = subprocess.run([sys.executable, str(check_deploy.ROOT / "gateway" / "render.py"), "local",
                             "--set", "NOPE=1"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "render.py: error: --set 'NOPE=1'" in result.stderr

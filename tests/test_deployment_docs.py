"""docs/deployment.md: every block marked `<!-- run-locally -->` works as written.

The blocks run with bash (`set -euo pipefail`) in a scratch directory that mirrors the
checkout through symlinks, so what they write (data/) stays out of the tree and
no GAIT_* setting of the caller leaks in. The backup/restore block is followed by a check
that the restore really brought the data back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "deployment.md"
MIRRORED = (".venv", "Makefile", "gateway", "deployments", "services", "shared", "docs", ".github",
            ".ci", "docker-compose.yml", ".env.example", "requirements.txt", "requirements-dev.txt",
            "pyproject.toml")
SECTIONS = ("Quick start", "Local development", "Manual deployment", "Configuration", "Monitoring",
            "Security features", "Troubleshooting", "Scaling", "Backup and recovery")


def local_blocks() -> list[str]:
    return re.findall(r"<!-- run-locally -->\n```sh\n(.*?)```", GUIDE.read_text(), flags=re.S)


@pytest.fixture
def checkout(tmp_path):
    for name in MIRRORED:
        (tmp_path / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:/usr/sbin:{env.get('PATH', '/usr/bin:/bin')}"
    return tmp_path, env


def run_block(block: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_guide_has_every_section_the_seed_asks_for():
    headings = re.findall(r"^## (.+)$", GUIDE.read_text(), flags=re.M)
    for section in SECTIONS:
        assert any(h.startswith(section) for h in headings), section
    assert len(local_blocks()) == 4


@pytest.mark.parametrize("index", range(3))
def test_each_local_command_block_in_the_guide_runs_as_written(index, checkout):
    cwd, env = checkout
    blocks = [b for b in local_blocks() if "backup" not in b]
    result = run_block(blocks[index], cwd, env)
    assert result.returncode == 0, f"{blocks[index]}\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_the_guides_backup_and_restore_commands_bring_the_data_back(checkout):
    cwd, env = checkout
    block = next(b for b in local_blocks() if "backup" in b)
    # Data the backup must carry: a user in the database and a file in the data directory.
    subprocess.run([sys.executable, "-m", "ades", "db", "upgrade"], cwd=cwd, env=env, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "ades", "users", "create", "carol", "--role", "viewer"],
                   cwd=cwd, env=env, input="carol-password-long-enough\n", text=True, check=True,
                   capture_output=True)
    (cwd / "data" / "notes.txt").write_text("kept\n")

    first = run_block(block, cwd, env)
    assert first.returncode == 0, first.stderr
    archives = sorted((cwd / "data" / "backups").glob("ades-backup-*.tar.gz"))
    assert len(archives) == 1

    # Lose the data, then restore the backup the guide's way.
    (cwd / "data" / "ades.db").unlink()
    (cwd / "data" / "notes.txt").unlink()
    latest = '"$(ls -t data/backups/ades-backup-*.tar.gz | head -1)"'
    restore = run_block(f"deployments/scripts/restore.sh {latest}", cwd, env)
    assert restore.returncode == 0, restore.stderr
    assert (cwd / "data" / "notes.txt").read_text() == "kept\n"
    users = subprocess.run([sys.executable, "-m", "ades", "users", "list", "--json"], cwd=cwd, env=env,
                           capture_output=True, text=True, check=True)
    assert "carol" in users.stdout

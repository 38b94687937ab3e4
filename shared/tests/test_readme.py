"""The README stays true: every setting the loader knows is documented with its default."""

from __future__ import annotations

from pathlib import Path

from ades.config import ENV_VARS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_environment_variable_is_documented_in_the_readme():
    text = README.read_text("utf-8")
    missing = [name for name in ENV_VARS if f"`{name}`" not in text]
    assert missing == []


def test_the_readme_names_the_two_setup_commands():
    text = README.read_text("utf-8")
    assert "make install && make run" in text
    assert "make test" in text

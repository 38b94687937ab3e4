"""`python -m ades` runs the CLI."""

from .cli import run

run()

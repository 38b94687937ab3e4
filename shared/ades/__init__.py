"""ADES: a team's git history turned into a searchable memory of development experience."""

__version__ = "0.1.0"

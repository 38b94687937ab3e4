"""The one error type of `ades.assist`."""

from __future__ import annotations


class AssistError(ValueError):
    """A request to the assistant API is invalid; the message says why, in one line."""

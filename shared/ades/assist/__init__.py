"""History-aware help for IDEs and AI assistants: file context, diff review, similar changes.

Everything here is computed from the stored history through `ades.analytics` and
`ades.search`; the ide service serves it over HTTP (`/ide/...`) and MCP (`/mcp`). Functions
take a store and a `Repository` and raise `AssistError` (a ValueError whose message is
fit for a client) for bad input.
"""

from __future__ import annotations

from .context import experts, file_context, file_risk, repository_overview
from .errors import AssistError
from .review import parse_unified_diff, review_diff
from .similar import experience_detail, similar_changes

__all__ = ["AssistError", "experience_detail", "experts", "file_context", "file_risk",
           "parse_unified_diff", "repository_overview", "review_diff", "similar_changes"]

"""gunicorn's logger for the services: everything but the access line.

The app logs every request itself (JSON, path without the query string, request id), so
gunicorn's own access line is not wanted. Configured through `logconfig_dict`, gunicorn
would still build each line (its "atoms": a dozen formatted fields) and hand it to a
discarding handler; this logger does not build it. Imported by gunicorn by dotted name
(`logger_class`), in the master and the workers only.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger


class AppLogsAccess(Logger):
    """gunicorn's Logger whose `access` does nothing."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """No access line: the app wrote one for this request already."""

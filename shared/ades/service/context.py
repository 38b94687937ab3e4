"""What the chassis keeps per app: the service's name, config, store and Redis client."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

from ..config import Config
from .store import StoreHolder

if TYPE_CHECKING:
    import redis

    from ..optimizer import MonitoredStore

EXTENSION_KEY = "ades.service"


@dataclass
class ServiceContext:
    """One service app's resources. Nothing here connects until first use."""

    name: str
    config: Config
    stores: StoreHolder
    metrics_port: int | None
    app: Flask
    started_at: float = field(default_factory=time.monotonic)

    @property
    def backend(self) -> str:
        """`postgres` or `sqlite`."""
        return "postgres" if self.config.uses_postgres else "sqlite"

    def uptime(self) -> float:
        """Seconds since the app was created."""
        return time.monotonic() - self.started_at

    def redis_client(self) -> redis.Redis | None:
        """The app's Redis client (short timeouts), or None without Redis."""
        from ..hardening import redis_client

        return redis_client(self.app)

    def close(self) -> None:
        """Release the store's connections (and its token listener), the shared cache's and the
        Redis client."""
        from ..hardening import token_cache
        from ..optimizer import query_cache

        self.stores.close()
        if self.config.uses_postgres:
            token_cache.close_for(self.config.database_url)
        with contextlib.suppress(KeyError):  # no optimizer bound: nothing to close
            shared = query_cache(self.app).shared
            if shared is not None:
                shared.close()
        client = self.redis_client()
        if client is not None:
            client.close()


def service_context(app: Flask | None = None) -> ServiceContext:
    """The `ServiceContext` of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION_KEY]


def get_store() -> MonitoredStore:
    """The current app's store; raises DatabaseUnavailable while the database is down.

    Reads through it are timed and slow ones explained (see `ades.optimizer`).
    """
    return service_context().stores.get()

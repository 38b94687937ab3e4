"""Errors the storage layer raises, independent of the backend underneath."""


class StorageError(Exception):
    """The database could not be reached or refused an operation; the message says why."""


class DatabaseUnavailable(StorageError):
    """The database server cannot be reached right now (connection refused, timeout)."""

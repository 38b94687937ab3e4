"""Errors the storage layer raises, independent of the backend underneath."""


class StorageError(Exception):
    """The database could not be reached or refused an operation; the message says why."""


class InvalidText(StorageError):
    """A value the database cannot store or compare: text holding a NUL byte (PostgreSQL).

    It comes from the caller's input, not from the database: services answer it with 400.
    """


class StorageFull(StorageError):
    """A write failed for want of disk space; the failed transaction was rolled back."""


class DatabaseUnavailable(StorageError):
    """The database server cannot be reached right now (connection refused, timeout)."""

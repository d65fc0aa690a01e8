"""The errors every dataset reader raises (kept apart so that the listing and the reading
modules share them without importing each other)."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file or folder is missing, unreadable or inconsistent (the message names it)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset file or folder does not exist."""

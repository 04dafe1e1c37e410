"""What a database failure means, in words, and the error class every store's raised errors share.

SQLite reports a problem as ``sqlite3.Error`` with a result code; the file system as ``OSError``.
This module turns both into sentence fragments an admin or learner can act on (``describe``) and
classifies them for the recovery rules of ``tutor/db/database.py`` (damaged file, file gone).
"""
from __future__ import annotations

import sqlite3
import threading
import time

from tutor.errors import TutorError

# The exceptions a database operation can fail with; anything else is a bug and propagates.
DB_FAILURES = (sqlite3.Error, OSError)


class DatabaseError(TutorError):
    """A store's database could not be read or written; each store raises its own subclass
    (LearnerStoreError, InterviewStoreError, MetricsError) with a sentence."""


def error_code(e: BaseException) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary result code


def is_corrupt(e: BaseException) -> bool:
    return error_code(e) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def needs_reopen(e: BaseException) -> bool:
    """The file went away or lost its schema: open (and migrate) it again before the next use."""
    return error_code(e) == sqlite3.SQLITE_CANTOPEN or "no such table" in str(e)


def describe(e: BaseException) -> str:
    """A sentence fragment an admin can act on, with SQLite's own words in brackets."""
    code = error_code(e)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        text = "the database is locked by another writer or process"
    elif code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        text = "the database file is damaged"
    elif code == sqlite3.SQLITE_READONLY:
        text = "the database file is read-only"
    elif code == sqlite3.SQLITE_FULL:
        text = "the disk is full"
    elif code == sqlite3.SQLITE_CANTOPEN:
        text = "the database file cannot be opened (check the folder exists and is writable)"
    elif "no such table" in str(e):
        text = "a table is missing"
    elif isinstance(e, OSError):
        text = "the file system refused (check the folder exists and is writable)"
    else:
        text = "a database error occurred"
    return f"{text} ({type(e).__name__}: {e})"


class FailureLog:
    """Thread-safe record of a best-effort store's failed writes, for its health line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.last: tuple[float, str] | None = None  # (when, what failed and why)
        self.last_success_at: float | None = None

    def failed(self, what: str, e: BaseException) -> None:
        with self._lock:
            self.count += 1
            self.last = (time.time(), f"{what}: {describe(e)}")

    def succeeded(self) -> None:
        with self._lock:
            self.last_success_at = time.time()

    def problem(self, label: str) -> str | None:
        """A sentence about the last failure, unless a write has succeeded since."""
        with self._lock:
            count, last, ok_at = self.count, self.last, self.last_success_at
        if last is None or (ok_at is not None and last[0] < ok_at):
            return None
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last[0]))
        return f"The last write to {label} failed at {when}: {last[1]} ({count} failed write(s) since the app started)."

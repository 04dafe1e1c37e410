"""Database: one SQLite file of one store, with its connections, its migrations and its error policy.

Connections: one short-lived connection per operation, so any thread (Gradio runs handlers in a
pool) may call any store method and no connection is shared between threads. WAL journal, so
readers never block the writer; a busy timeout, so concurrent writers queue instead of failing;
``synchronous = NORMAL`` (durable across app crashes; an OS crash may lose the last commits).
A write takes the write lock up front (``BEGIN IMMEDIATE``), so a read-then-write cannot fail
half-way on a snapshot another writer made stale.

Keeping the WAL open: in WAL mode, closing the LAST connection to a file checkpoints the log and
fsyncs; with nothing else open that happens on every operation (measured ~22-30 ms per metrics
write on the CI machine, 0.15 ms with a holder). So each open Database keeps one idle connection
(the holder): the others then close in microseconds and SQLite's automatic checkpoint does the work.

Error policy, chosen per store with ``best_effort_writes``:
- raise (learner data: learner records, interview history): every failure is logged with
  ``logger.exception`` and raised as the store's own ``DatabaseError`` subclass, with a sentence,
  ``from`` the SQLite error. The tab shows the sentence.
- best effort (metrics): a failed ``write`` is logged with ``logger.exception``, counted in
  ``failures`` (the admin health line), and returns None: metrics never break a learner's
  request. Reads (the admin's) still raise, so the admin tab can say what is wrong.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from tutor.db import files
from tutor.db.errors import DB_FAILURES, DatabaseError, FailureLog, describe, is_corrupt, needs_reopen
from tutor.db.migrations import Migration, run

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _is_busy(e: BaseException) -> bool:
    return isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e))

DEFAULT_BUSY_TIMEOUT_S = 5.0  # how long a write waits for another writer before giving up


class Database:
    """One SQLite file. Nothing is opened until the first use (or ``open()``); thread-safe."""

    def __init__(self, path: Path, migrations: Sequence[Migration], *, error: type[DatabaseError], label: str,
                 best_effort_writes: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.migrations = migrations
        self.error = error  # what a failure raises under this store's policy
        self.label = label  # "the metrics database": how sentences name it
        self.best_effort_writes = best_effort_writes
        self.busy_timeout_s = busy_timeout_s
        self.failures = FailureLog()
        self._lock = threading.Lock()  # one thread opens (migrates) the file at a time
        self._ready = False  # schema known to be migrated; False -> open again before use
        self._holder: sqlite3.Connection | None = None

    # ------------------------------------------------------------ the file

    def open(self) -> list[str]:
        """Create the folder, switch the file to WAL, run the pending migrations, hold the WAL
        open; return the migrations run. Raises sqlite3.Error / OSError as they come."""
        with self._lock:
            if self._ready:
                return []
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self.connect()) as conn:
                mode = self._switch_to_wal(conn)
                if str(mode).lower() != "wal":
                    logger.warning("The database %s runs in %s journal mode, not WAL", self.path, mode)
                ran = run(conn, self.migrations)
            if ran:
                logger.info("Database %s: ran migrations %s", self.path, ", ".join(ran))
            self._release()  # re-opening (e.g. the file was deleted): hold the new file
            self._holder = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
            # A connection opens the file lazily: one read makes it a WAL user that keeps the log open.
            self._holder.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            self._ready = True
            return ran

    def open_or_move_aside(self) -> Path | None:
        """``open()``, but a file that is not a readable database is moved aside (never deleted)
        and a fresh one started; return where it went. Locked or unwritable still raises."""
        if not files.has_sqlite_header(self.path):
            # Checked before SQLite opens it: on close SQLite would delete the -wal/-shm files
            # next to a file it cannot read, and they belong to the evidence.
            return self._start_fresh("the file does not start with the SQLite header")
        try:
            self.open()
            return None
        except sqlite3.Error as e:
            if not (is_corrupt(e) and self.path.is_file()):
                raise
            return self._start_fresh(str(e))

    def reopen_later(self) -> None:
        """Open (and migrate) the file again before its next use."""
        self._ready = False

    def close(self) -> None:
        with self._lock:
            self._release()
            self._ready = False

    def connect(self) -> sqlite3.Connection:
        """A fresh connection in autocommit mode (transactions are explicit) with the pragmas."""
        # timeout= is SQLite's busy timeout: a writer waits this long for the lock.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def problem(self, tables: Sequence[str]) -> str | None:
        """None when the file opens, has ``tables`` and every migration ran; else a sentence."""
        try:
            with self.transaction() as conn:
                present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                missing = [t for t in tables if t not in present]
                if missing:
                    return (f"{self.label.capitalize()} {self.path} is missing table(s) {', '.join(missing)}. "
                            "Move the file aside and restart to start a fresh one.")
                done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
                pending = [m.__name__ for m in self.migrations if m.__name__ not in done]
                if pending:
                    return f"{self.label.capitalize()} {self.path} has not run migration(s) {', '.join(pending)}."
        except DB_FAILURES as e:
            return f"{self.label.capitalize()} {self.path} cannot be used: {describe(e)}."
        return None

    # ------------------------------------------------------------ operations

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection for one operation; ``write`` runs it in one ``BEGIN IMMEDIATE`` transaction,
        rolled back on any exception. Raises sqlite3.Error / OSError as they come (no policy)."""
        if not self._ready:
            self.open()
        with closing(self.connect()) as conn:
            if write:
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if conn.in_transaction and write:
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def session(self, what: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """``transaction`` under the raise policy: a database failure is logged and raised as
        ``self.error`` with a sentence naming ``what`` was being done."""
        try:
            with self.transaction(write=write) as conn:
                yield conn
        except DB_FAILURES as e:
            if needs_reopen(e):
                self.reopen_later()
            logger.exception("%s failed while %s (%s)", self.label, what, self.path)
            raise self.error(f"{self.label.capitalize()} could not be used for {what}: {describe(e)}.") from e

    def read(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on an autocommit connection (it may open its own transaction); raises ``self.error``."""
        with self.session(what) as conn:
            return fn(conn)

    def write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T | None:
        """``fn`` in a write transaction under this store's policy: raises ``self.error``, or with
        ``best_effort_writes`` logs, counts the failure and returns None."""
        if not self.best_effort_writes:
            with self.session(what, write=True) as conn:
                return fn(conn)
        try:
            with self.transaction(write=True) as conn:
                result = fn(conn)
        except DB_FAILURES as e:
            logger.exception("Could not write %s to %s %s", what, self.label, self.path)
            self.failures.failed(f"recording {what}", e)
            if needs_reopen(e):
                self.reopen_later()  # e.g. the file was deleted: recreate it on the next write
            return None
        self.failures.succeeded()
        return result

    # ------------------------------------------------------------ plumbing

    def _start_fresh(self, why: str) -> Path:
        with self._lock:
            self._release()
            self._ready = False
            moved = files.move_aside(self.path)
        logger.warning("%s %s is damaged (%s); moved it aside to %s and started a fresh one",
                       self.label.capitalize(), self.path, why, moved)
        self.open()
        return moved

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """WAL is a property of the file (persistent): readers no longer block the writer.

        Changing the journal mode needs every other connection out, and SQLite does NOT call the
        busy handler for it: two stores (or processes) opening a new file at once get "database
        is locked" at once, whatever the busy timeout (seen in CI, 16 of 300 runs of 8 threads).
        So the switch is retried for as long as a write would wait, and skipped when another
        opener already made the file WAL."""
        for attempt in Retrying(stop=stop_after_delay(self.busy_timeout_s), wait=wait_random(0.005, 0.05),
                                retry=retry_if_exception(_is_busy), reraise=True):
            with attempt:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        return str(mode)

    def _release(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None

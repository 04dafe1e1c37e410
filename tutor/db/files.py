"""The database file on disk: telling a damaged file from a new one, moving a damaged one aside.

A damaged file is never deleted: it moves to ``<name>.corrupt-<timestamp>`` with its -wal/-shm
files, so the data stays there to inspect. Only the best-effort metrics store uses this (a fresh
metrics file is better than no metrics); learner data raises instead and is never moved.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file


def has_sqlite_header(path: Path) -> bool:
    """False only for an existing, non-empty file that is not an SQLite database (an empty or
    missing file is a new database to SQLite)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return True
    except OSError:
        return True  # unreadable or a folder: let SQLite report it, do not move anything
    return head == b"" or head == SQLITE_HEADER


def move_aside(path: Path) -> Path:
    """Move ``path`` and its side files to a new ``.corrupt-<timestamp>`` name; return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    # A stale -wal next to a new database would be replayed into it: move them along.
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return target

"""The run's durable log: every finished pair (and every problem) appended to JSONL and fsync'd.

A `kill -9` can at worst leave one torn last line; opening the log drops it (truncating the file to the last
whole line), so a rerun of the same command redoes exactly the unfinished candidates: nothing lost, and
keys make a second copy impossible.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class JsonlLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._recover()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _recover(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
        if good != len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
        for line in data[:good].decode("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                self.rows.setdefault(row["key"], row)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def append(self, row: dict[str, Any]) -> bool:
        """Write the row durably unless its key is already logged. Returns whether it was written."""
        with self._lock:
            if row["key"] in self.rows:
                return False
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.rows[row["key"]] = row
            return True

    def close(self) -> None:
        self._fh.close()


def write_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a JSONL file in one step (write a temporary file, fsync, rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)

"""A Q&A run's live status: one small JSON file the running command rewrites, anyone may read.

The command (`python -m training qa ... --status-file PATH`, default `<run folder>/status.json`) is the only
writer: it says which stage it is in, how far generation is, and how it ended (done with its report, failed
with the reason). A reader cannot trust "running" alone: a `kill -9` leaves the file as it was, so
`read_status` checks that the recorded process is still alive (and is the same process, not a reused pid)
and reports a dead "running" as "interrupted". The admin Data view polls this file (app/tabs/admin_data.py).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

STATES = ("starting", "running", "done", "failed", "interrupted")
ACTIVE = ("starting", "running")
PROGRESS_EVERY_S = 0.5  # progress rewrites at most this often (a run finishes hundreds of pairs a second)


@dataclass(frozen=True)
class RunStatus:
    run_name: str
    state: str  # STATES
    stage: str = ""  # "generate" | "score" | "export" while running
    done: int = 0  # pairs phrased by this invocation
    total: int = 0  # pairs this invocation has to phrase
    pid: int = 0
    started_at: float = 0.0
    updated_at: float = 0.0
    documents: int = 0
    docs_per_s: float | None = None
    pairs_per_min: float | None = None
    error: str = ""  # why it failed or stopped, a sentence
    report: str = ""  # the report file's name once exported
    command: tuple[str, ...] = ()  # the command line; running it again resumes the run

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "command": list(self.command)}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> "RunStatus":
        known = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        known["command"] = tuple(known.get("command", ()))
        status = cls(**known)
        if status.state not in STATES:
            raise ValueError(f"unknown state {status.state!r}")
        return status


class StatusError(ValueError):
    """A status file that cannot be read; the message names it."""


def write_json_atomic(path: Path, row: dict[str, Any]) -> None:
    """Replace the file in one step, so a reader never sees half a status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def process_alive(pid: int, started_at: float) -> bool:
    """Whether `pid` runs and is the process that started at `started_at` (a pid can be reused after a crash;
    a killed child of a live parent stays a zombie until reaped)."""
    import psutil

    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return proc.create_time() <= started_at + 2.0  # created before it wrote its first status
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_status(path: Path) -> RunStatus | None:
    """The run's status, None when there is no file. An active state whose process is gone reads as
    "interrupted". Raises StatusError for a file that is not a status."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        status = RunStatus.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise StatusError(f"The status file {path.name} of run {path.parent.name} cannot be read ({e}).") from e
    if status.active and not process_alive(status.pid, status.started_at):
        return replace(status, state="interrupted",
                       error=status.error or "The process stopped without finishing (killed or crashed).")
    return status


class StatusWriter:
    """The running command's side: `stage`, `progress`, then `finish` or `fail` (each rewrites the file)."""

    def __init__(self, path: Path, run_name: str, command: list[str]) -> None:
        self.path = Path(path)
        now = time.time()
        self._status = RunStatus(run_name=run_name, state="running", pid=os.getpid(), started_at=now,
                                 updated_at=now, command=tuple(command))
        self._last_write = 0.0
        self._write()

    @property
    def status(self) -> RunStatus:
        return self._status

    def _write(self, **changes: Any) -> None:
        self._status = replace(self._status, updated_at=time.time(), **changes)
        self._last_write = time.monotonic()
        write_json_atomic(self.path, self._status.to_json())

    def stage(self, name: str, **changes: Any) -> None:
        self._write(stage=name, **changes)

    def progress(self, done: int, total: int) -> None:
        """Count `done` more finished pairs of `total`; written at most every PROGRESS_EVERY_S."""
        self._status = replace(self._status, done=self._status.done + done, total=total)
        if time.monotonic() - self._last_write >= PROGRESS_EVERY_S or self._status.done >= total:
            self._write()

    def update(self, **changes: Any) -> None:
        self._write(**changes)

    def finish(self, report: str) -> None:
        self._write(state="done", stage="", report=report)

    def fail(self, reason: str, state: str = "failed") -> None:
        self._write(state=state, error=reason)

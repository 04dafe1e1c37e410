"""Starting a Q&A run as its own OS process, one at a time, for the admin Data view.

The run is the ordinary command (`python -m training qa all ... --status-file <run folder>/status.json`),
started in its own session so it outlives the browser tab and the request that started it; the view learns
where it is by reading the status file back (training/qa/runs.py). A file lock around "is one running? then
start" keeps two admins clicking at once from starting two. The run name follows from the settings, so
starting the same settings again after a kill resumes that run from its checkpoint instead of starting over.
"""
from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from training.config import REPO_ROOT
from training.qa.runs import LOG_NAME, list_statuses, run_status
from training.qa.status import RunStatus, write_json_atomic

DEFAULT_ENTRY = (sys.executable, "-m", "training")  # tests pass a worker that builds the parts with fakes


class RunBusy(Exception):
    """Another run is active; the message says which."""


@dataclass(frozen=True)
class RunRequest:
    limit_docs: int | None  # None: every document of the knowledge base
    use_model: bool  # False: template questions only (fast, no model call)

    @property
    def run_name(self) -> str:
        docs = f"{self.limit_docs}docs" if self.limit_docs else "alldocs"
        return f"ui-{docs}-{'model' if self.use_model else 'templates'}"

    def arguments(self, out_dir: Path, status_file: Path) -> list[str]:
        args = ["qa", "all", "--no-progress", "--status-file", str(status_file),
                "--set", f"out_dir={out_dir}", "--set", f"run_name={self.run_name}",
                "--set", f"use_model={'true' if self.use_model else 'false'}"]
        return args + (["--limit-docs", str(self.limit_docs)] if self.limit_docs else [])


def active_run(out_dir: Path) -> RunStatus | None:
    """The run that is starting or running now, if any (unreadable folders are skipped, not fatal)."""
    return next((s for s in list_statuses(out_dir)[0] if s.active), None)


def start_run(request: RunRequest, out_dir: Path, entry: tuple[str, ...] = DEFAULT_ENTRY) -> RunStatus:
    """Start the run's command in the background and return its first status. Raises RunBusy when a run is
    active (the one-at-a-time rule)."""
    out_dir = Path(out_dir).resolve()
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".launch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        busy = active_run(out_dir)
        if busy is not None:
            raise RunBusy(f"Run {busy.run_name} is still going ({busy.stage or 'starting'}); one run at a time, "
                          "so start the next one when it has finished.")
        folder = work / request.run_name
        folder.mkdir(parents=True, exist_ok=True)
        args = request.arguments(out_dir, folder / "status.json")
        with open(folder / LOG_NAME, "w", encoding="utf-8") as log:
            proc = subprocess.Popen([*entry, *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=REPO_ROOT, start_new_session=True)  # outlives the request and the tab
        write_json_atomic(folder / "launch.json", {"pid": proc.pid, "started_at": time.time(),
                                                   "command": ["python", "-m", "training", *args]})
        # Reap it when it ends, or a finished run would stay a zombie of the app and look alive.
        threading.Thread(target=proc.wait, name=f"qa-run-{proc.pid}", daemon=True).start()
    return run_status(folder)

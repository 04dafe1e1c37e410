"""Reading the Q&A runs back: exported reports and live statuses as typed records (no UI here).

A finished run is its report `<out_dir>/qa-<run>-vN.report.json` (training/qa/report.py); a run in progress,
interrupted or failed is its work folder `<out_dir>/work/<run>/` with `status.json` (training/qa/status.py) and,
when the admin view started it, `launch.json` (training/qa/launch.py). A file that cannot be read becomes a
sentence in `RunListing.problems`; the other runs are still listed. Reports older than the score histogram and
the lowest-pairs list get both from their dataset file, which holds only the kept pairs (the detail says so).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.qa.status import RunStatus, StatusError, process_alive, read_status

_REPORT = re.compile(r"qa-(?P<run>[\w-]+?)-v(?P<version>\d+)\.report\.json")
LOG_NAME = "run.log"


@dataclass(frozen=True)
class RunSummary:
    name: str  # the report's stem, e.g. "qa-kb-v1"
    run_name: str
    version: int
    report_path: Path
    dataset_path: Path
    finished_at: float  # the report file's modification time
    documents: int
    pairs: int  # every generated pair, dropped ones included
    kept: int
    pairs_per_doc: float
    pass_rate: float  # kept pairs passing every enabled check
    mean_score_kept: float
    distinct_pattern_share: float
    max_first_word_share: float
    check_pass_rates: dict[str, float]  # per enabled check, over all pairs
    docs_per_s: float | None  # None: a report written before throughput was recorded
    pairs_per_min: float | None
    resumed: bool  # the throughput is that of a resumed (partial) generate
    problems: int


@dataclass(frozen=True)
class LowPair:
    question: str
    answer: str
    score: float
    failed_checks: tuple[str, ...]
    source: str  # the source chunk id
    kind: str
    kept: bool


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    score_histogram: dict[str, int]  # "0-1" ... "9-10" -> pairs
    histogram_of: str  # "all pairs" or "kept pairs only" (an older report, read from its dataset)
    lowest: tuple[LowPair, ...]
    top_first_words: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RunListing:
    reports: tuple[RunSummary, ...]  # newest first
    statuses: tuple[RunStatus, ...]  # one per work folder that has a status, newest first
    problems: tuple[str, ...]  # a sentence per file that could not be read

    @property
    def active(self) -> RunStatus | None:
        return next((s for s in self.statuses if s.active), None)


def _summary(path: Path, row: dict[str, Any], run: str, version: int) -> RunSummary:
    pairs = int(row["pairs"])
    failures = row.get("check_failures_all_pairs") or {}
    tp = row.get("throughput") or {}
    return RunSummary(
        name=path.name.removesuffix(".report.json"), run_name=run, version=version, report_path=path,
        dataset_path=path.parent / str(row.get("dataset") or path.name.replace(".report.json", ".jsonl")),
        finished_at=path.stat().st_mtime, documents=int(row["documents"]), pairs=pairs, kept=int(row["kept"]),
        pairs_per_doc=float(row["pairs_per_doc"]), pass_rate=float(row["pass_rate"]),
        mean_score_kept=float(row.get("mean_score_kept", 0.0)),
        distinct_pattern_share=float(row["distinct_pattern_share"]),
        max_first_word_share=float(row["max_first_word_share"]),
        check_pass_rates={c: round(1 - int(n) / pairs, 4) if pairs else 0.0 for c, n in failures.items()},
        docs_per_s=tp.get("documents_per_s"), pairs_per_min=tp.get("pairs_per_min"),
        resumed=bool(tp.get("resumed", False)), problems=len(row.get("problems") or []))


def _load_report(path: Path) -> tuple[RunSummary, dict[str, Any]]:
    m = _REPORT.fullmatch(path.name)
    if m is None:
        raise ValueError("its name is not qa-<run>-vN.report.json")
    row = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(row, dict):
        raise ValueError("it is not a JSON object")
    return _summary(path, row, m["run"], int(m["version"])), row


def _log_tail(folder: Path) -> str:
    try:
        lines = [ln.strip() for ln in (folder / LOG_NAME).read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("error: ") if lines else ""


def run_status(folder: Path) -> RunStatus | None:
    """The status of one work folder: its status.json, or, when the admin view launched a command that has
    not written one yet (or whose status predates the launch), the launch record: starting while the process
    lives, failed with the last line of its log once it is gone."""
    status = read_status(folder / "status.json")
    launch_file = folder / "launch.json"
    if not launch_file.is_file():
        return status
    try:
        launch = json.loads(launch_file.read_text(encoding="utf-8"))
        pid, started = int(launch["pid"]), float(launch["started_at"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StatusError(f"The launch record of run {folder.name} cannot be read ({e}).") from e
    if status is not None and (status.pid == pid or status.started_at > started):
        # the launched command has written its own status. Not a time window: a run killed a second
        # after it began leaves a status a quick restart would otherwise take for the new run's.
        return status
    command = tuple(launch.get("command", ()))
    if process_alive(pid, started):
        return RunStatus(folder.name, "starting", stage="start", pid=pid, started_at=started, updated_at=started,
                         command=command)
    reason = _log_tail(folder) or "The command stopped before it wrote any status."
    return RunStatus(folder.name, "failed", pid=pid, started_at=started, updated_at=started, error=reason,
                     command=command)


def list_statuses(out_dir: Path) -> tuple[list[RunStatus], list[str]]:
    """The status of every work folder that has one, newest first, and a sentence per unreadable one
    (cheap: the live view polls this, not the reports)."""
    statuses, problems = [], []
    work = Path(out_dir) / "work"
    for folder in sorted(p for p in work.iterdir() if p.is_dir()) if work.is_dir() else []:
        try:
            status = run_status(folder)
        except StatusError as e:
            problems.append(str(e))
            continue
        if status is not None:
            statuses.append(status)
    statuses.sort(key=lambda s: s.updated_at, reverse=True)
    return statuses, problems


def list_runs(out_dir: Path) -> RunListing:
    out_dir = Path(out_dir)
    reports, problems = [], []
    for path in sorted(out_dir.glob("qa-*.report.json")):
        try:
            reports.append(_load_report(path)[0])
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"The report {path.name} cannot be read ({e}); the other runs are listed.")
    statuses, unreadable = list_statuses(out_dir)
    reports.sort(key=lambda r: (r.finished_at, r.version), reverse=True)
    return RunListing(tuple(reports), tuple(statuses), tuple(problems + unreadable))


def _low_pair(row: dict[str, Any], checks: list[str], kept: bool) -> LowPair:
    failed = row.get("failed_checks")
    if failed is None:
        failed = [c for c in checks if not (row.get("checks") or {}).get(c, False)]
    return LowPair(question=str(row["question"]), answer=str(row["answer"]), score=float(row.get("score") or 0.0),
                   failed_checks=tuple(failed), source=str(row.get("source") or row.get("source_chunk_id", "")),
                   kind=str(row.get("kind", "")), kept=bool(row.get("kept", kept)))


def _from_dataset(summary: RunSummary, checks: list[str], n: int) -> tuple[dict[str, int], list[LowPair]]:
    """An older report: the histogram and the lowest pairs of its dataset (kept pairs only)."""
    rows = [json.loads(ln) for ln in summary.dataset_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    bins = {f"{i}-{i + 1}": 0 for i in range(10)}
    for r in rows:
        i = min(int(r.get("score") or 0.0), 9)
        bins[f"{i}-{i + 1}"] += 1
    worst = sorted(rows, key=lambda r: (r.get("score") or 0.0, r.get("id", "")))[:n]
    return bins, [_low_pair(r, checks, True) for r in worst]


def run_detail(report_path: Path, n_lowest: int = 25) -> RunDetail:
    """Everything the Data view shows for one finished run. Raises ValueError (with the file named) when the
    report or its dataset cannot be read."""
    report_path = Path(report_path)
    try:
        summary, row = _load_report(report_path)
        checks = list((row.get("config") or {}).get("checks") or summary.check_pass_rates)
        if "score_histogram" in row and "lowest_pairs" in row:
            hist, scope = dict(row["score_histogram"]), "all pairs"
            lowest = [_low_pair(r, checks, False) for r in row["lowest_pairs"][:n_lowest]]
        else:
            (hist, lowest), scope = _from_dataset(summary, checks, n_lowest), "kept pairs only"
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"The report {report_path.name} cannot be read ({e}).") from e
    return RunDetail(summary, hist, scope, tuple(lowest),
                     tuple((str(w), int(c)) for w, c in row.get("top_first_words") or []))

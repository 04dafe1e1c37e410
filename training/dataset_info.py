"""Which dataset trained a run: its path, its version and a hash of its content (recorded in result.json and
the adapter's model card, so every published adapter says what it was trained on).

The version is the Q&A export's own (`qa-<run>-vN.report.json` beside `qa-<run>-vN.jsonl`, written by
training/qa/report.py); a folder of rows (the interview bank) has none, and the hash alone identifies it.
The hash is sha256 over the files' names and bytes in a fixed order, so the same rows give the same hash on
every machine.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from training.config import REPO_ROOT


@dataclass(frozen=True)
class DatasetInfo:
    path: str  # relative to the repository when inside it
    version: int | None  # the Q&A export's version; None for a folder of rows
    sha256: str


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(path)


def export_version(path: Path) -> int | None:
    """The version the Q&A export's report gives this file, or None (not an export, or no report beside it)."""
    report = path.with_name(f"{path.stem}.report.json")
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("dataset") != path.name or not isinstance(data.get("version"), int):
        return None
    return data["version"]


def content_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's *.jsonl files (each name, then its bytes, in name order)."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.hexdigest()
    for f in sorted(path.glob("*.jsonl")):
        h.update(f.name.encode("utf-8") + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def describe_dataset(path: Path) -> DatasetInfo:
    path = Path(path)
    return DatasetInfo(_shown(path), export_version(path) if path.is_file() else None, content_sha256(path))


def dataset_line(path: str | None, version: int | None, sha256: str | None) -> str:
    """One sentence for a report: `training/data/qa/qa-kb-v1.jsonl` (version 1, sha256 0123abcd…)."""
    if not path:
        return "not recorded"
    parts = ([f"version {version}"] if version is not None else []) + ([f"sha256 {sha256[:12]}"] if sha256 else [])
    return f"`{path}`" + (f" ({', '.join(parts)})" if parts else "")

"""Paths of files shipped in the repository (the question banks), found from any working directory."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_shipped(configured: str | Path | None, default: Path) -> Path:
    """A configured path as given when it exists (or is absolute); a relative one is also tried against the
    repo root, since the app may be started from another working directory; None -> `default`."""
    if configured is None:
        return default
    p = Path(configured)
    if p.exists() or p.is_absolute():
        return p
    repo_relative = REPO_ROOT / p
    return repo_relative if repo_relative.exists() else p

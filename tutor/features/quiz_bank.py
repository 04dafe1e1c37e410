"""The quiz's question bank: the Q&A pairs that the training pipeline (`python -m training qa`) wrote
to a JSONL file, read as typed records.

Owns reading the file only. The core never imports training/: this module knows the file's row
format (id, source_chunk_id, doc_id, kind, difficulty, question, answer, score, generated_by), not the
code that wrote it. A missing file gives an empty bank with the reason in `problems` (the quiz then
builds its items from the course text, as before the bank existed); a bad row is skipped with its
reason and the rest is kept. Turning records into checked quiz items is quiz_bank_items.py.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tutor.repo_paths import REPO_ROOT, resolve_shipped

logger = logging.getLogger(__name__)

# The kinds the pipeline writes (training/qa/config.py KINDS), in the order the quiz tab lists them.
BANK_KINDS: tuple[str, ...] = ("definition", "why", "compare", "apply", "true_false")
# The repo's shipped bank; cfg.paths.quiz_bank_path overrides it.
DEFAULT_BANK_PATH = REPO_ROOT / "training" / "data" / "qa" / "qa-kb-v1.jsonl"
_REQUIRED = ("id", "source_chunk_id", "doc_id", "kind", "question", "answer")


@dataclass(frozen=True)
class BankRecord:
    """One checked Q&A pair of the bank; `chunk_id` is the app's chunk id of its source section."""

    id: str
    chunk_id: str
    doc_id: str
    kind: str  # one of BANK_KINDS
    difficulty: str  # the pipeline's easy | medium | hard
    question: str
    answer: str
    score: float
    generated_by: str  # "template" or the model's name


@dataclass(frozen=True)
class QuizBank:
    path: Path
    records: tuple[BankRecord, ...]
    problems: tuple[str, ...] = ()  # why the file or a row could not be used, one sentence each

    def kinds(self) -> tuple[str, ...]:
        """The bank's kinds that have at least one record, in BANK_KINDS order."""
        present = {r.kind for r in self.records}
        return tuple(k for k in BANK_KINDS if k in present)

    def for_chunks(self, chunk_ids: Iterable[str]) -> list[BankRecord]:
        """The records whose source is one of these chunks (a stale record, whose chunk is no longer
        indexed, matches none)."""
        wanted = set(chunk_ids)
        return [r for r in self.records if r.chunk_id in wanted]


def _record(row: object) -> BankRecord:
    if not isinstance(row, dict):
        raise ValueError("the row is not a JSON object")
    missing = [k for k in _REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        raise ValueError(f"missing or empty field(s): {', '.join(missing)}")
    if row["kind"] not in BANK_KINDS:
        raise ValueError(f"unknown kind {row['kind']!r}")
    try:
        score = float(row.get("score") or 0.0)
    except (TypeError, ValueError) as e:
        raise ValueError(f"score {row.get('score')!r} is not a number") from e
    return BankRecord(row["id"], row["source_chunk_id"], row["doc_id"], row["kind"], str(row.get("difficulty", "")),
                      row["question"].strip(), row["answer"].strip(), score, str(row.get("generated_by", "")))


def load_quiz_bank(path: str | Path | None) -> QuizBank:
    """Read the bank at `path`; never raises for a missing or damaged file (see the module docstring)."""
    p = resolve_bank_path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        why = f"the question bank {p} cannot be read ({e.strerror or e}); quizzes are built from the course text"
        logger.warning(why)
        return QuizBank(p, (), (why,))
    records: list[BankRecord] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = _record(json.loads(line))
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            problems.append(f"{p.name} line {n}: {e}")
            continue
        if rec.id in seen:
            problems.append(f"{p.name} line {n}: duplicate id {rec.id!r}")
            continue
        seen.add(rec.id)
        records.append(rec)
    if problems:
        logger.warning("question bank %s: %d row(s) skipped, first: %s", p, len(problems), problems[0])
    return QuizBank(p, tuple(records), tuple(problems))


def resolve_bank_path(configured: str | Path | None) -> Path:
    """cfg.paths.quiz_bank_path, found from any working directory (tutor/repo_paths.py)."""
    return resolve_shipped(configured, DEFAULT_BANK_PATH)

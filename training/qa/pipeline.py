"""The three stages over one run folder (`<out_dir>/work/<run_name>/`):

- generate: sections -> candidates -> pairs (phrased concurrently), each appended durably to pairs.jsonl;
  problems (unparsable document, empty section, invalid reply, timeout) to problems.jsonl. Rerunning the
  same command after a crash or `kill -9` does only what is missing.
- score: checks + score for every pair, then near-duplicate removal on the embedder's vectors -> scored.jsonl.
- export: the kept pairs as the next version `qa-<run>-vN.jsonl` in out_dir, with its report (report.py).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from tutor.backends.base import LLMBackend
from training.qa.candidates import candidates, prose_sentences
from training.qa.checkpoint import JsonlLog, write_atomic
from training.qa.checks import dedup, run_checks, score
from training.qa.config import QAConfig
from training.qa.phrasing import FirstWords, Phraser, first_word
from training.qa.records import Pair, Problem, Section
from training.qa.sections import load_sections, problem_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateStats:
    documents: int
    sections: int
    candidates: int
    new_pairs: int  # written by this invocation (0 when everything was already done)
    total_pairs: int
    problems: int
    workers: int
    seconds: float  # phrasing wall time of this invocation

    @property
    def pairs_per_min(self) -> float:
        return 60.0 * self.new_pairs / self.seconds if self.seconds > 0 else 0.0


def run_dir(cfg: QAConfig) -> Path:
    return Path(cfg.out_dir) / "work" / cfg.run_name


def _empty_section_problems(sections: list[Section]) -> list[Problem]:
    return [Problem(problem_key("section", s.chunk_id), "section", s.chunk_id,
                    "the section has no prose sentence of 6-45 words (empty, code or a table only)")
            for s in sections if not prose_sentences(s.text)]


def generate(cfg: QAConfig, backend: LLMBackend | None, kb_dir: Path, chunking: tuple[int, int],
             workers: int, paths: list[Path] | None = None,
             progress: Callable[[int, int], object] | None = None) -> GenerateStats:
    """Phrase every missing candidate with `workers` concurrent requests; returns this invocation's stats.
    `progress(finished, to_do)` is called once per finished pair (a progress bar)."""
    folder = run_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    sections, problems = load_sections(kb_dir, *chunking, paths=paths)
    problems += _empty_section_problems(sections)
    write_atomic(folder / "sections.jsonl", [{"key": s.chunk_id, **asdict(s)} for s in sections])
    pairs, issues = JsonlLog(folder / "pairs.jsonl"), JsonlLog(folder / "problems.jsonl")
    for p in problems:
        issues.append(p.to_json())
    todo = [c for c in candidates(sections, cfg.max_pairs_per_section) if c.key not in pairs]
    total = len(todo) + len(pairs.rows)
    openers = [first_word(row["question"]) for row in pairs.rows.values()] + [c.opener for c in todo]
    phraser = Phraser(backend, cfg, first_words=FirstWords(openers, cfg.max_first_word_share))
    t0, new = time.perf_counter(), 0
    try:
        with cf.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="qa") as pool:
            futures = [pool.submit(phraser.phrase, c) for c in todo]
            for fut in cf.as_completed(futures):
                pair, problem = fut.result()
                if problem is not None:
                    issues.append(problem.to_json())
                new += pairs.append(pair.to_json())
                if progress is not None:
                    progress(1, len(todo))
    finally:
        pairs.close()
        issues.close()
    docs = len({s.doc_id for s in sections}) + sum(p.stage == "document" for p in problems)
    return GenerateStats(documents=docs, sections=len(sections), candidates=total, new_pairs=new,
                         total_pairs=len(pairs.rows), problems=len(issues.rows),
                         workers=workers, seconds=time.perf_counter() - t0)


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score_run(cfg: QAConfig, embed: Callable[[list[str]], object]) -> list[Pair]:
    """Checks, score and dedup for every generated pair; writes scored.jsonl and returns the pairs."""
    folder = run_dir(cfg)
    sections = {row["chunk_id"]: Section(**{k: row[k] for k in Section.__dataclass_fields__})
                for row in _read(folder / "sections.jsonl")}
    rows = _read(folder / "pairs.jsonl")
    if not rows:
        raise FileNotFoundError(f"no generated pairs in {folder}: run `python -m training qa generate` first")
    pairs = []
    for row in rows:
        pair = Pair.from_json(row)
        checks = run_checks(pair, sections[pair.chunk_id], cfg)
        pairs.append(replace(pair, checks=checks, score=score(checks, cfg.checks)))
    import numpy as np

    vectors = np.asarray(embed([p.question for p in pairs]), dtype=np.float32)
    pairs = dedup(pairs, vectors, cfg)
    write_atomic(folder / "scored.jsonl", [p.to_json() for p in pairs])
    return pairs


def load_scored(cfg: QAConfig) -> list[Pair]:
    rows = _read(run_dir(cfg) / "scored.jsonl")
    if not rows:
        raise FileNotFoundError(f"no scored pairs in {run_dir(cfg)}: run `python -m training qa score` first")
    return [Pair.from_json(r) for r in rows]


def load_problems(cfg: QAConfig) -> list[Problem]:
    return [Problem(**r) for r in _read(run_dir(cfg) / "problems.jsonl")]

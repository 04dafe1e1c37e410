"""The Q&A pipeline's settings: one frozen dataclass, validated before any model loads.

A YAML file (`--config`) and `--set key=value` override the defaults; an unknown key, an unknown check or
a threshold out of bounds raises QAConfigError naming it, so a typo never costs a model load.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from training.config import REPO_ROOT

# The checks a pair can be scored on, and their weight in the 0-10 score (training/qa/checks.py).
CHECK_WEIGHTS: dict[str, float] = {
    "supported": 3.0,  # the answer's words are in its source section
    "terms": 2.0,  # every technical term of the source sentence is in the answer verbatim
    "topic": 2.0,  # the question names the section's topic (not answerable without it)
    "length": 1.5,  # question and answer within their word bounds
    "novel": 1.5,  # not a near-duplicate (embedding similarity) of a kept question
}
KINDS = ("definition", "why", "compare", "apply", "true_false")


class QAConfigError(ValueError):
    """A bad pipeline setting; the message names it."""


@dataclass(frozen=True)
class QAConfig:
    checks: tuple[str, ...] = tuple(CHECK_WEIGHTS)
    min_score: float = 7.0  # kept pairs score at least this (0-10)
    support_min: float = 0.9  # share of the answer's content words found in the source section
    near_duplicate: float = 0.92  # cosine similarity at or above which two questions are duplicates
    question_words: tuple[int, int] = (4, 60)
    answer_words: tuple[int, int] = (5, 90)
    max_pairs_per_section: int = 6
    max_first_word_share: float = 0.10  # a model question's first word may not pass this share of the run
    use_model: bool = True  # False: template questions only (no model call)
    concurrency: int = 0  # parallel requests; 0 = what the backend serves at once (model.slots on llama.cpp)
    max_new_tokens: int = 96
    retries: int = 3  # attempts per request, with exponential backoff
    backoff_s: float = 0.5
    request_timeout_s: float = 60.0
    breaker_fail_max: int = 5  # consecutive failed requests that open the circuit
    breaker_reset_s: float = 30.0
    kb_dir: Path | None = None  # None: the app's paths.knowledge_base_dir
    out_dir: Path = field(default=REPO_ROOT / "training" / "data" / "qa")
    run_name: str = "kb"


def _bad(key: str, why: str) -> QAConfigError:
    return QAConfigError(f"Invalid Q&A setting {key}: {why}")


def validate(cfg: QAConfig) -> QAConfig:
    unknown = [c for c in cfg.checks if c not in CHECK_WEIGHTS]
    if unknown:
        raise _bad("checks", f"unknown check {unknown[0]!r}; known: {', '.join(CHECK_WEIGHTS)}.")
    if not cfg.checks:
        raise _bad("checks", "name at least one check.")
    if not 0 <= cfg.min_score <= 10:
        raise _bad("min_score", f"{cfg.min_score} is not between 0 and 10.")
    for key in ("support_min", "near_duplicate", "max_first_word_share"):
        v = getattr(cfg, key)
        if not 0 < v <= 1:
            raise _bad(key, f"{v} is not in (0, 1].")
    for key in ("question_words", "answer_words"):
        lo, hi = getattr(cfg, key)
        if not 1 <= lo < hi:
            raise _bad(key, f"bounds {lo}..{hi} must satisfy 1 <= min < max.")
    for key, lo in (("max_pairs_per_section", 1), ("concurrency", 0), ("max_new_tokens", 8), ("retries", 1),
                    ("breaker_fail_max", 1)):
        if getattr(cfg, key) < lo:
            raise _bad(key, f"must be at least {lo}.")
    for key in ("backoff_s", "request_timeout_s", "breaker_reset_s"):
        if getattr(cfg, key) < 0:
            raise _bad(key, "must not be negative.")
    if not cfg.run_name.replace("-", "").replace("_", "").isalnum():
        raise _bad("run_name", f"{cfg.run_name!r} must be letters, digits, - or _.")
    return cfg


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, tuple) or name in ("checks", "question_words", "answer_words"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise _bad(name, f"expects a list, got {value!r}.")
        return tuple(int(v) if name != "checks" else str(v) for v in value)
    if name in ("kb_dir", "out_dir"):
        return None if value in (None, "") else Path(value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise _bad(name, f"expects true or false, got {value!r}.")
        return value
    try:
        return type(current)(value)
    except (TypeError, ValueError) as e:
        raise _bad(name, f"expects a {type(current).__name__}, got {value!r}.") from e


def load_qa_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> QAConfig:
    """Defaults <- YAML file <- overrides, then validated. Raises QAConfigError naming the bad key."""
    import yaml

    values: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise QAConfigError(f"Could not read the Q&A config {path}: {e}") from e
        if not isinstance(loaded, dict):
            raise QAConfigError(f"The Q&A config {path} must be 'key: value' lines.")
        values.update(loaded)
    values.update(overrides or {})
    base = QAConfig()
    known = {f.name: f for f in fields(QAConfig)}
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise QAConfigError(f"Unknown Q&A setting {key!r}; known: {', '.join(known)}.")
        changes[key] = _coerce(key, value, getattr(base, key))
    return validate(replace(base, **changes))

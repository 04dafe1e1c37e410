"""Checks table-driven from real KB text, the 0-10 score formula, and near-duplicate removal."""
from dataclasses import replace

import pytest

from tests.training.qa.fixtures import KB, hash_embedder
from training.qa.checks import dedup, is_kept, run_checks, score
from training.qa.config import QAConfig
from training.qa.records import Pair
from training.qa.sections import load_sections

CFG = QAConfig()
SENT = ("The chain rule, dy/dx = (dy/du)(du/dx), differentiates compositions and is the mathematical core of "
        "backpropagation.")


@pytest.fixture(scope="module")
def section():
    sections, _ = load_sections(KB, 160, 30, paths=[KB / "calculus" / "derivatives.md"])
    return next(s for s in sections if "The chain rule" in s.text and "dy/dx = (dy/du)(du/dx)" in s.text)


def pair(question, answer, focus="chain rule"):
    return Pair("k", "c", "d", "definition", focus, question, answer, "easy", "template", sentence=SENT)


@pytest.mark.parametrize("q, a, failing", [
    ("What does the chain rule differentiate, and why does it matter?", SENT, set()),
    ("What does the chain rule differentiate?", "The chain rule is a kind of soup recipe invented by bakers.",
     {"supported", "terms"}),
    ("What does the chain rule differentiate?", "True. " + SENT.replace(", dy/dx = (dy/du)(du/dx),", ""),
     {"terms"}),
    ("What is the answer to this one, please?", SENT, {"topic"}),
    ("Chain rule?", SENT, {"length"}),
    ("What does the chain rule differentiate?", "dy/dx = (dy/du)(du/dx).", {"length"}),
])
def test_checks_on_real_text(section, q, a, failing):
    checks = run_checks(pair(q, a), section, CFG)
    assert {k for k, v in checks.items() if not v} == failing


def test_score_formula():
    enabled = CFG.checks
    everything = {c: True for c in enabled}
    assert score(everything, enabled) == 10.0
    assert score({**everything, "supported": False}, enabled) == 7.0  # 10 * (10 - 3) / 10
    assert score({**everything, "length": False, "novel": False}, enabled) == 7.0
    assert score({c: False for c in enabled}, enabled) == 0.0
    assert score({"supported": True, "length": False}, ("supported", "length")) == 6.67  # 10 * 3 / 4.5


def test_dedup_keeps_the_better_of_two_near_duplicates():
    emb = hash_embedder()
    a = replace(pair("What does the chain rule differentiate in calculus?", SENT), key="a", score=8.5,
                checks={"supported": True})
    b = replace(pair("What does the chain rule differentiate in calculus?", SENT), key="b", score=10.0,
                checks={"supported": True, "terms": True, "topic": True, "length": True})
    c = replace(pair("Why is the sigmoid derivative convenient for logistic regression?", SENT), key="c",
                score=10.0, checks=dict(b.checks))
    out = {p.key: p for p in dedup([a, b, c], emb.embed([p.question for p in (a, b, c)]), CFG)}
    assert out["b"].checks["novel"] and out["c"].checks["novel"] and not out["a"].checks["novel"]
    assert is_kept(out["b"], CFG) and not is_kept(out["a"], CFG)

"""Extractive candidates from real KB text: kinds, falsified statements, clozes, answers from the source."""
import pytest

from tests.training.qa.fixtures import KB
from training.qa.candidates import candidates, classify, cloze, falsify
from training.qa.sections import load_sections


@pytest.mark.parametrize("sentence, kind", [
    ("A derivative measures how fast a function's output changes when its input changes by a tiny amount.",
     "definition"),
    ("Limits matter because the derivative is defined as a ratio whose numerator and denominator both shrink to "
     "zero.", "why"),
    ("A GRU is smaller than an LSTM and often performs similarly.", "compare"),
    ("For g(x) = (x^2 - 1)/(x - 1), the limit as x approaches 1 is 2.", "apply"),
    ("Byte-pair encoding (BPE) learns a subword vocabulary from a training corpus.", "true_false"),
])
def test_classify(sentence, kind):
    assert classify(sentence)[0] == kind


def test_falsify_and_cloze():
    s = "If f'(x) > 0 the function is increasing at x, and the loss always decreases."
    assert falsify(s) != s and falsify("Nothing to swap here at all.") is None
    blanked, value = cloze("From x + 2 + 3 = 6, x = 1.")
    assert value == "1" and "____" in blanked and "x = 1" not in blanked


def test_every_answer_comes_from_its_section():
    sections, problems = load_sections(KB, 160, 30, paths=[KB / "calculus" / "derivatives.md"])
    assert not problems
    by_id = {s.chunk_id: s for s in sections}
    cands = candidates(sections, max_per_section=6)
    assert len(cands) >= 20
    assert {c.kind for c in cands} == {"definition", "why", "compare", "apply", "true_false"}
    flat = {cid: " ".join(s.text.split()) for cid, s in by_id.items()}
    for c in cands:
        assert c.sentence in flat[c.chunk_id]
    assert len({c.key for c in cands}) == len(cands)
    # keys are stable across runs (resume depends on it)
    assert [c.key for c in candidates(sections, 6)] == [c.key for c in cands]

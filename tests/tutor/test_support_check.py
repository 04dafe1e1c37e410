"""The support check of Citations.finalize (tutor/citations.py) on real course text: a marker stays only
where its excerpt holds the claim, and a sentence the excerpts do not support is marked."""
import pytest

from tests.tutor.test_prompting import hit
from tutor.citations import UNSUPPORTED_MARK, UNSUPPORTED_NOTE, Citations, drop_unsupported_markers, mark_unsupported

# knowledge_base/calculus/derivatives.md and knowledge_base/python/python-data-structures-and-comprehensions.md
DERIV = ("A derivative measures how fast a function's output changes when its input changes by a tiny amount. "
         "The derivative of a function f at a point x is the limit of the slope of secant lines as the two "
         "points merge.")
TUPLE = ("A tuple is an ordered, immutable sequence. Because tuples cannot change, they are hashable when "
         "their items are, so they can be used as dictionary keys.")
HITS = [hit(1, DERIV), hit(2, TUPLE)]

MARKERS = [
    # (answer, expected after the marker check)
    ("The derivative is the limit of the slope of secant lines [1].",
     "The derivative is the limit of the slope of secant lines [1]."),
    ("A tuple is an immutable ordered sequence usable as dictionary keys [1].",  # wrong source: dropped
     "A tuple is an immutable ordered sequence usable as dictionary keys."),
    ("Tuples are hashable, so they work as dictionary keys [1][2].",  # only the excerpt that holds it stays
     "Tuples are hashable, so they work as dictionary keys [2]."),
    ("Yes [1].", "Yes [1]."),  # too short to judge
]


@pytest.mark.parametrize("answer,expected", MARKERS)
def test_markers_kept_only_where_the_excerpt_holds_the_claim(answer, expected):
    assert drop_unsupported_markers(answer, HITS)[0] == expected


SENTENCES = [
    # (answer, which sentences get marked)
    ("A derivative measures how fast the output of a function changes.", []),
    ("Tuples are immutable, so they can serve as dictionary keys. The Krebs cycle produces ATP inside "
     "mitochondria of eukaryotic cells.", ["The Krebs cycle"]),
    ("Short one. Another.", []),  # too short to judge
    ("```python\nprint('the mitochondria is the powerhouse of the cell')\n```", []),  # code is left alone
]


@pytest.mark.parametrize("answer,marked", SENTENCES)
def test_unsupported_sentences_are_marked(answer, marked):
    out = mark_unsupported(answer, HITS)
    assert out.count(UNSUPPORTED_MARK) == len(marked)
    for start in marked:
        i = out.index(start)
        assert UNSUPPORTED_MARK in out[i:]
    assert out.replace(UNSUPPORTED_NOTE, "").replace(UNSUPPORTED_MARK, "") == answer  # the model's words stay
    assert out.endswith(UNSUPPORTED_NOTE) == bool(marked)  # one note at the end, not one per sentence


def test_finalize_applies_both_checks():
    body = ("The derivative is the limit of the slope of secant lines [1]. "
            "Bananas ripen faster next to apples because of ethylene gas [2].")
    c = Citations(HITS)
    c.feed(body)
    fixed, extra = c.finalize(body)
    assert extra == ""
    assert "secant lines [1]." in fixed and "[2]" not in fixed
    assert "ethylene gas." + UNSUPPORTED_MARK in fixed and fixed.endswith(UNSUPPORTED_NOTE)

"""Words of the interview rubric: tokens, a crude stemmer and content stems.

Owns what a "word" is for the rubric (tutor/features/rubric.py), its meaning checks
(tutor/features/rubric_meaning.py) and the bench's metrics (bench/tutor_eval_metrics.py), so they agree.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'+-]*|\d+(?:\.\d+)?")

# Function words carry no rubric content; a small list is enough for short key points.
STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from into onto over under about as is are was
were be been being it its this that these those there their they them he she we you your i me my our us
do does did done not no so such than too very can could should would may might must will shall also just
only more most less least much many some any each every all both either neither one two which who whom
what when where why how while because since until between through during before after above below up
down out off again further here own same other another per via vs etc has have had having get gets got
make makes made use used uses using like e.g i.e
""".split())


def words(text: str) -> list[str]:
    return _WORD.findall(text or "")


def stem(word: str) -> str:
    """A deliberately crude suffix stripper: enough that 'overfits', 'overfitting' and 'overfit',
    or 'tuples' and 'tuple', meet, without a stemming dependency."""
    w = word.lower()
    for suf in ("izations", "ization", "isations", "isation", "ations", "ation", "ments", "ment", "ness",
                "ities", "ity", "ings", "ing", "ies", "ied", "ed", "es", "ly", "s"):
        if len(w) - len(suf) >= 3 and w.endswith(suf):
            if suf == "s" and w.endswith(("ss", "us", "is", "as")):
                break  # class, status, analysis, bias: not plurals
            if suf == "es" and not w.endswith(("ses", "xes", "zes", "ches", "shes")):
                suf = "s"  # tuples -> tuple, but classes -> class
            w = w[: -len(suf)]
            if suf in ("ing", "ed") and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # overfitting -> overfit, like overfits
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]  # scale / scaling, value / values
    return w


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in words(text) if w.lower() not in STOPWORDS and (len(w) > 1 or w.isdigit())}

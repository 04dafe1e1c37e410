"""Meaning checks of the interview rubric: does an answer sentence *say* a key point, or only share its words?

Owns three decisions that tutor/features/rubric.py applies to each (key point, answer unit) pair before a
similarity may count as coverage:

- prose: a sentence that is a string of terms with almost no function words ("sparse lasso weights L1
  zero penalty") is word salad, not a statement; it earns nothing however many key words it holds.
- negation: the unit negates a content word of the point that the point (and its reference sentence)
  affirms, or affirms what the point negates ("L1 is not sparse" against "L1 gives sparse weights").
- swapped terms: the unit says the point's claim about a rival term ("ridge" for "lasso", "high" for
  "low", or another item the question asks to compare): the rival stands where the point's own term should.

All three are word-level and deterministic (no model): the embedder is blind to them, since "L1 is not
sparse" and "L1 gives sparse weights" are close in MiniLM space, and so is a salad of the right words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from tutor.features.rubric_text import STOPWORDS, stem, words

# Prose: a sentence of at least PROSE_MIN_WORDS words needs this share of function words. On the
# interview bank's 2,894 reference-answer sentences (and pairs) of >= 6 words, 0.8% fall under 0.15;
# of the scoring set's seeded word salads, 96% do (measured 2026-12-07). Shorter units are exempt:
# "Lists are mutable." is a fine telegraphic answer.
PROSE_MIN_FUNCTION_SHARE = 0.15
PROSE_MIN_WORDS = 6
# A unit restates a reference sentence when that sentence holds this share of the unit's content stems
# (copied or lightly reworded). Restating only exempts what the reference sentence itself trips, so a negated
# or swapped rewrite of a sentence that states the point correctly is still caught.
RESTATE_SHARE = 0.6
NEGATION_SCOPE = 3  # content words after a negation cue that it negates ("does not give sparse weights")

# A negation's scope ends at punctuation and at a conjunction that starts another clause.
_CLAUSE = re.compile(r"[,;:.!?()]|\s(?:but|while|whereas|although|because|since|so|which|and)\s", re.IGNORECASE)
# Words that join terms into a statement without being content: formulas read "bias squared plus variance".
CONNECTIVES = frozenset({"plus", "minus", "times", "equals", "divided", "squared", "versus", "unlike", "whereas"})
NEGATION_CUES = frozenset({"not", "no", "never", "cannot", "neither", "nor", "none", "without", "nothing"})

# Pairs whose swap flips a claim. General opposites first, then pairs of ML terms that interviews
# contrast. Stems (rubric_text.stem) are compared, so word forms meet.
RIVAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("high", "low"), ("higher", "lower"), ("increase", "decrease"), ("more", "less"), ("more", "fewer"),
    ("larger", "smaller"), ("large", "small"), ("faster", "slower"), ("fast", "slow"), ("dense", "sparse"),
    ("linear", "nonlinear"), ("mutable", "immutable"), ("overfitting", "underfitting"), ("global", "local"),
    ("supervised", "unsupervised"), ("upsamples", "downsamples"), ("encoder", "decoder"), ("before", "after"),
    ("l1", "l2"), ("lasso", "ridge"), ("precision", "recall"), ("bias", "variance"), ("stack", "queue"),
    ("row", "column"), ("soft", "hard"), ("convex", "nonconvex"), ("parametric", "nonparametric"),
    ("stateless", "stateful"), ("synchronous", "asynchronous"), ("online", "offline"), ("batch", "stream"),
    ("generative", "discriminative"), ("classification", "regression"), ("horizontal", "vertical"),
)
# A question that asks to compare named things makes them rivals of each other.
_COMPARISON = re.compile(r"\b(?:vs\.?|versus|compare[sd]?|comparing|comparison|differ(?:s|ent|ence|ences)?|"
                         r"distinguish|contrast)\b", re.IGNORECASE)


def _rival_map() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for a, b in RIVAL_PAIRS:
        sa, sb = stem(a), stem(b)
        out.setdefault(sa, set()).add(sb)
        out.setdefault(sb, set()).add(sa)
    return {k: frozenset(v) for k, v in out.items()}


RIVALS = _rival_map()


def token_stems(text: str) -> list[str]:
    """Every word's stem in order, function words included (positions matter for scope and distance)."""
    return [stem(w) for w in words(text)]


def reads_as_prose(sentence: str) -> bool:
    ws = words(sentence)
    if len(ws) < PROSE_MIN_WORDS:
        return True
    function = sum(1 for w in ws if w.lower() in STOPWORDS or w.lower() in CONNECTIVES or _is_negation(w))
    return function / len(ws) >= PROSE_MIN_FUNCTION_SHARE


def _is_negation(word: str) -> bool:
    w = word.lower()
    return w in NEGATION_CUES or w.endswith("n't")


def negated_stems(text: str) -> set[str]:
    """Content stems inside the scope of a negation cue: "L1 is not sparse" -> {"sparse"}."""
    out: set[str] = set()
    for clause in _CLAUSE.split(text or ""):
        out |= _negated_in_clause(words(clause))
    return out


def _negated_in_clause(ws: list[str]) -> set[str]:
    out: set[str] = set()
    for i, w in enumerate(ws):
        if not _is_negation(w):
            continue
        seen = 0
        for nxt in ws[i + 1:]:
            low = nxt.lower()
            if _is_negation(nxt):
                break
            if low in STOPWORDS:
                continue
            out.add(stem(nxt))
            seen += 1
            if seen >= NEGATION_SCOPE:
                break
    return out


def claim_stems(point: str, rivals: Rivals) -> set[str]:
    """The point's content stems less those a rival could stand in for ("L1", "lasso", "high"): what is
    said, not what it is said about. All content stems when nothing else is left."""
    stems = _content(point)
    claim = {s for s in stems if s not in RIVALS and s not in rivals.compared}
    return claim or stems


def claim_share(point: str, unit: str, rivals: Rivals) -> float:
    """Share of the point's claim stems in the unit: naming the same things earns no lexical match."""
    claim = claim_stems(point, rivals)
    return len(claim & _content(unit)) / len(claim) if claim else 0.0


def _content(text: str) -> set[str]:
    return {stem(w) for w in words(text) if w.lower() not in STOPWORDS and not _is_negation(w)}


def negation_conflict(point: str, unit: str) -> bool:
    """The unit negates a content word the point affirms, or affirms at least half of what the point negates.
    (A negation the reference answer itself has: contradicts_reference.)"""
    p_stems, u_stems = _content(point), _content(unit)
    p_neg = negated_stems(point)
    u_neg = negated_stems(unit)
    if (u_neg & p_stems) - p_neg:
        return True
    own_neg = negated_stems(point) & p_stems
    if own_neg:
        affirmed = (own_neg & u_stems) - u_neg
        return len(affirmed) * 2 >= len(own_neg) and not (own_neg & u_neg)
    return False


@dataclass(frozen=True)
class Rivals:
    """Rival terms for one question: the general pairs plus the things its wording asks to compare."""
    compared: frozenset[str]  # stems of the compared things ("ridge", "lasso", "pca", ...); may be empty

    def of(self, term: str, point_stems: set[str]) -> set[str]:
        out = set(RIVALS.get(term, ()))
        if term in self.compared:
            out |= self.compared - {term}
        return out - point_stems


def question_rivals(question: str | None, key_points: Sequence[str]) -> Rivals:
    """Content stems of a comparison question that name what the key points are about. A stem found in
    every point is the common subject ("model"), not a side of the comparison."""
    if not question or not _COMPARISON.search(question):
        return Rivals(frozenset())
    per_point = [_content(p) for p in key_points]
    terms = {t for t in _content(question) if 0 < sum(t in p for p in per_point) < len(per_point)}
    return Rivals(frozenset(terms) if len(terms) >= 2 else frozenset())


def swapped_term(point: str, unit: str, rivals: Rivals) -> bool:
    """The unit states the point's claim about a rival term: the rival is there and the point's own term
    is absent, or both are there and the rival is the one the claim's words follow (a subject comes
    before what is said of it: "PCA preserves local neighbourhoods, t-SNE is linear")."""
    p_stems = _content(point)
    seq = token_stems(unit)
    u_set = set(seq)
    if _pair_flipped(token_stems(point), seq, p_stems):
        return True
    for term in p_stems:
        rival_terms = rivals.of(term, p_stems) & u_set
        if not rival_terms:
            continue
        if term not in u_set:
            return True
        anchors = [i for i, s in enumerate(seq) if s in p_stems and s != term and s not in rival_terms]
        own = _lead(seq, term, anchors)
        if any(_lead(seq, r, anchors) < own for r in rival_terms):
            return True
    return False


def _pair_flipped(p_seq: list[str], u_seq: list[str], p_stems: set[str]) -> bool:
    """Two rivals both in the point trade places in the unit while the rest keeps its order:
    "training error low, validation error high" -> "training error is high, validation error is low"."""
    first_p = {s: p_seq.index(s) for s in p_stems}
    first_u = {s: u_seq.index(s) for s in p_stems if s in u_seq}
    pairs = [(a, b) for a in first_u for b in RIVALS.get(a, ()) if b in first_u and a < b]
    if not pairs:
        return False
    others = [s for s in first_u if s not in RIVALS]
    kept = [(a, b) for a in others for b in others if first_p[a] < first_p[b]]
    same = all(first_u[a] < first_u[b] for a, b in kept)
    return bool(kept) and same and any((first_p[a] < first_p[b]) != (first_u[a] < first_u[b]) for a, b in pairs)


def _lead(seq: list[str], term: str, anchors: list[int]) -> float:
    """Fewest words from an occurrence of ``term`` to the next anchor after it (inf when none follows)."""
    gaps = [a - i for i, s in enumerate(seq) if s == term for a in anchors if a > i]
    return min(gaps) if gaps else float("inf")


def contradicts(point: str, unit: str, rivals: Rivals) -> bool:
    return negation_conflict(point, unit) or swapped_term(point, unit, rivals)


def restated_reference(unit: str, reference_sentences: Sequence[str]) -> str | None:
    """The reference sentence the unit restates: the one sharing the most of the unit's content stems, if
    it holds at least RESTATE_SHARE of them; else None."""
    u = _content(unit)
    if not u:
        return None
    best, share = None, 0.0
    for r in reference_sentences:
        s = len(u & _content(r)) / len(u)
        if s > share:
            best, share = r, s
    return best if share >= RESTATE_SHARE else None


def contradicts_reference(point: str, unit: str, rivals: Rivals, reference_sentences: Sequence[str]) -> bool:
    """``contradicts``, unless the reference sentence the unit restates trips the same tests and the unit says
    nothing at stake beyond it. The reference answer is right by definition, so a negation or term order it
    has ("reference counting cannot free cycles" beside the point "reference counting frees memory"; "rather
    than clicks" beside "not clicks") is its wording, not a contradiction. A unit that adds a negation, or a
    term of the point or a rival of one, makes its own claim and is judged on it: "prefer recall when false
    positives are costly" restates the precision sentence but names recall."""
    if not contradicts(point, unit, rivals):
        return False
    ref = restated_reference(unit, reference_sentences)
    if ref is None or not contradicts(point, ref, rivals):
        return True
    p_stems = _content(point)
    at_stake = p_stems.union(*(rivals.of(t, p_stems) for t in p_stems))
    adds_terms = (_content(unit) & at_stake) - _content(ref)
    adds_negation = negated_stems(unit) - negated_stems(ref)
    return bool(adds_terms or adds_negation)

"""Rubric scoring of an interview answer against the question's key points.

Owns one decision: which key points an answer covers, and the 0-10 score and feedback that
follow from it. Used by the interview coach (tutor/features/interview.py) and by the training
evaluation (key-point coverage of generated answers), so both measure the same thing.

A key point is judged on meaning against the best-matching *unit* of the answer (a sentence, or two
adjacent sentences: an idea often spans a sentence break):

- covered (full credit): the unit holds >= LEXICAL_THRESHOLD of the point's claim words, or (with
  ``embed``, the app's sentence embedder) its cosine to the point or to the reference-answer sentence
  that states the point is >= SEMANTIC_THRESHOLD;
- partly (with ``embed``): linear credit from PARTIAL_FLOOR up to SEMANTIC_THRESHOLD;
- never from a unit that reads as word salad, negates the point, or swaps its terms
  (tutor/features/rubric_meaning.py), unless the reference sentence it restates does the same (the
  reference is right by definition); a point only such a unit came near is reported as contradicted.

The score is 10 * the mean credit. Without ``embed`` only the lexical test runs (the
fallback). Thresholds: see the constants below and bench/rubric_calibration.py.

Empty, too short or nonsense answers score 0 with feedback; nothing here raises on bad input.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tutor.features.rubric_meaning import (Rivals, claim_share, contradicts_reference, question_rivals,
                                          reads_as_prose)
from tutor.features.rubric_text import STOPWORDS, content_stems, stem, words  # noqa: F401 - re-exported
from tutor.retrieval.chunking import split_sentences

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]

# Lexical: a point is covered when the unit holds >= LEXICAL_THRESHOLD of its claim stems (the point's
# content stems less the terms a rival could stand in for, rubric_meaning.claim_stems). 0.5 as calibrated on
# the 317-question bank by scripts/calibrate_rubric.py (own-reference recall 0.990, same-topic false
# positives 0.024; bench/results/rubric_calibration.json).
# Semantic (MiniLM cosine of the point, or of its reference sentence, to the unit) and the partial-credit floor:
# calibrated by `python -m bench.rubric_calibration` on the even-numbered half of the interview scoring set
# (bench/data/tutor_eval/interview_answers.yaml, 30 questions x strong/partial/off-topic/salad, plus each
# question's same-topic neighbour answer), grid covered 0.5-1.0 x floor 0.0-0.8; the odd-numbered half is held
# out. 2026-12-07, all-MiniLM-L6-v2: band accuracy 0.967 on the calibration half, 0.933 held out, 0.95 overall
# (the old rubric, 0.5 and no partial credit: 0.867 / 0.833 / 0.85 on the same set). Word salad and off-topic
# answers score <= 0.1 on both halves. bench/results/rubric_band_calibration.json has the table. A high covered
# threshold means MiniLM alone rarely *covers* a point (it rates topic-adjacent sentences 0.5-0.7): it grades
# how close an answer comes, and the lexical claim test, gated by the meaning checks, says "covered".
SEMANTIC_THRESHOLD = 0.85
PARTIAL_FLOOR = 0.2
LEXICAL_THRESHOLD = 0.5

STRONG_SCORE = 7.0  # lower end of the "strong" band of bench/data/tutor_eval/interview_answers.yaml
ECHO_SIMILARITY = 0.85  # an answer sentence this close to the question restates it (see best_matches)
EMBED_CHUNK = 7  # texts per embedding call: below the embedder's bulk (bf16) size, see embed_texts
MIN_WORDS = 3  # "I don't know" and single words are not an answer to an interview question
MAX_ANSWER_CHARS = 6000  # longer answers are scored on their start (bounds embedding cost)
MAX_UNITS = 80  # sentences scored at most, for the same reason

_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}", re.IGNORECASE)




@dataclass(frozen=True)
class RubricScore:
    score: float  # 0-10, one decimal
    covered: tuple[str, ...]
    missed: tuple[str, ...]
    coverage: float  # 0-1: share of key points covered
    feedback: str
    contradicted: tuple[str, ...] = ()  # points the answer states wrongly (negated, or terms swapped)


# ---------------------------------------------------------------- text helpers


def looks_like_nonsense(answer: str) -> bool:
    """True for keyboard mashing and symbol soup: most 'words' have no vowel or long consonant
    runs, or there are hardly any words at all. Real (even wrong) prose passes."""
    ws = words(answer)
    if len(ws) < MIN_WORDS:
        return True
    alpha = [w for w in ws if w.isalpha()]
    if not alpha:
        return True
    odd = sum(1 for w in alpha if (len(w) > 3 and not _VOWEL.search(w)) or _CONSONANT_RUN.search(w))
    if odd / len(alpha) > 0.4:
        return True
    # Symbol soup: little of the text is letters.
    letters = sum(c.isalpha() for c in answer)
    return letters / max(1, len(answer.strip())) < 0.4


def answer_units(answer: str) -> list[str]:
    """Sentences of the answer (lines and list items split too), plus adjacent pairs."""
    sentences: list[str] = []
    for line in answer.splitlines():
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line).strip()
        if line:
            sentences.extend(s for s in split_sentences(line) if words(s))
    sentences = sentences[:MAX_UNITS]
    pairs = [f"{a} {b}" for a, b in zip(sentences, sentences[1:])]
    return sentences + pairs


# ---------------------------------------------------------------- similarity


def embed_texts(embed: EmbedFn, texts: list[str]) -> np.ndarray:
    """Embed in calls of at most EMBED_CHUNK texts. SentenceTransformerEmbedder runs calls of 8 or
    more texts on its bf16 bulk copy, which is slow for small batches on these CPUs: scoring one
    answer (~20 texts) took p50 1.69 s that way against 0.58 s in chunks of 7 on the fp32 query copy
    (30 test-split reference answers, 2 shared cores, 2026-11-23), with identical scores."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    parts = [np.asarray(embed(texts[i:i + EMBED_CHUNK]), dtype=np.float32) for i in range(0, len(texts), EMBED_CHUNK)]
    return np.concatenate(parts)


def lexical_similarities(units: Sequence[str], key_points: Sequence[str]) -> np.ndarray:
    """(points, units): share of each point's content stems that appear in the unit."""
    unit_stems = [content_stems(u) for u in units]
    out = np.zeros((len(key_points), len(units)), dtype=np.float32)
    for i, kp in enumerate(key_points):
        ks = content_stems(kp)
        if not ks:
            continue
        for j, us in enumerate(unit_stems):
            out[i, j] = len(ks & us) / len(ks)
    return out


def adds_to_question(unit: str, question: str) -> bool:
    """False for a unit whose content words all come from the question: restating it says nothing."""
    return bool(content_stems(unit) - content_stems(question))


def best_matches(answer: str, key_points: Sequence[str], embed: EmbedFn | None,
                 question: str | None = None) -> np.ndarray:
    """Each point's similarity to its best-matching answer unit (0 when the answer has none).

    With ``question``, units that only restate it are left out: those with no content word beyond
    the question's and, semantically, those within cosine ECHO_SIMILARITY of the question (echoing
    the question is close to its key points in embedding space, but covers none of them)."""
    units = answer_units(answer)
    if question:
        units = [u for u in units if adds_to_question(u, question)]
    if not units or not key_points:
        return np.zeros(len(key_points), dtype=np.float32)
    if not embed:
        return lexical_similarities(units, key_points).max(axis=1)
    texts = list(key_points) + units + ([question] if question else [])
    vecs = embed_texts(embed, texts)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.where(norms == 0, 1.0, norms)
    p, u = vecs[: len(key_points)], vecs[len(key_points): len(key_points) + len(units)]
    sims = np.einsum("pd,ud->pu", p, u)  # einsum: no BLAS thread pool for a tiny product
    if question:
        echo = np.einsum("ud,d->u", u, vecs[-1]) >= ECHO_SIMILARITY
        sims[:, echo] = 0.0
    return sims.max(axis=1)


# ---------------------------------------------------------------- meaning


@dataclass(frozen=True)
class Thresholds:
    """Semantic similarity (MiniLM cosine) at which a point counts as covered, and the floor under which it
    earns nothing; in between it earns linear partial credit ("touched, not said"). Lexical: share of the
    point's claim stems that covers it. Values and how they were chosen: see the constants above."""
    covered: float = SEMANTIC_THRESHOLD
    partial: float = PARTIAL_FLOOR
    lexical: float = LEXICAL_THRESHOLD

    @staticmethod
    def score(credit: np.ndarray) -> float:
        """0-10: the mean credit, linear (one of three points covered is 3.3)."""
        return round(10.0 * float(np.mean(credit)), 1) if len(credit) else 0.0


@dataclass(frozen=True)
class Judgement:
    credit: np.ndarray  # per point, 0-1
    covered: np.ndarray  # per point, bool: full credit
    contradicted: np.ndarray  # per point, bool: only a contradicting sentence came close


def _units_and_prose(text: str, question: str | None) -> tuple[list[str], list[bool]]:
    units = answer_units(text)
    if question:
        units = [u for u in units if adds_to_question(u, question)]
    return units, [reads_as_prose(u) for u in units]


def _cosines(embed: EmbedFn, points: Sequence[str], units: Sequence[str], question: str | None,
             reference: str | None) -> np.ndarray:
    """(points, units) cosine of each point, or of the reference sentence that states it (whichever is
    closer), to each unit; units echoing the question get 0. Whole reference sentences are compared
    because a candidate's sentence reads more like them than like a terse key point."""
    ref_units = [s for s in split_sentences(reference or "") if words(s)][:MAX_UNITS]
    texts = list(points) + list(units) + ref_units + ([question] if question else [])
    vecs = embed_texts(embed, texts)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.where(norms == 0, 1.0, norms)
    n_p, n_u, n_r = len(points), len(units), len(ref_units)
    p, u, r = vecs[:n_p], vecs[n_p:n_p + n_u], vecs[n_p + n_u:n_p + n_u + n_r]
    sims = np.einsum("pd,ud->pu", p, u)
    if n_r:
        best_ref = r[np.einsum("pd,rd->pr", p, r).argmax(axis=1)]  # each point's reference sentence
        sims = np.maximum(sims, np.einsum("pd,ud->pu", best_ref, u))
    if question:
        sims[:, np.einsum("ud,d->u", u, vecs[-1]) >= ECHO_SIMILARITY] = 0.0
    return sims


@dataclass(frozen=True)
class Evidence:
    """What the thresholds are applied to: (points, units) similarities and which pairs may count."""
    lexical: np.ndarray  # share of the point's claim stems in the unit (rubric_meaning.claim_share)
    semantic: np.ndarray  # cosine (0 without an embedder)
    usable: np.ndarray  # the unit reads as prose
    contradicts: np.ndarray  # the unit negates the point or swaps its terms
    semantic_on: bool


def gather(text: str, points: Sequence[str], embed: EmbedFn | None, *, question: str | None = None,
           reference: str | None = None) -> Evidence:
    """The evidence for every (point, unit) pair; separate from thresholds so calibration computes it once."""
    units, prose = _units_and_prose(text, question)
    n = len(points)
    rivals: Rivals = question_rivals(question, points)
    lexical = np.array([[claim_share(p, u, rivals) for u in units] for p in points], np.float32).reshape(n, len(units))
    semantic = np.zeros_like(lexical)
    on = embed is not None and bool(units)
    if on:
        try:
            semantic = _cosines(embed, points, units, question, reference)
        except Exception:  # noqa: BLE001 - a failing embedder must not cost the learner a score
            logger.exception("semantic rubric scoring failed; using the lexical test alone")
            on = False
    ref_sentences = [s for s in split_sentences(reference or "") if words(s)][:MAX_UNITS]
    wrong = np.array([[contradicts_reference(p, u, rivals, ref_sentences) for u in units] for p in points],
                     bool).reshape(n, len(units))
    usable = np.broadcast_to(np.array(prose, bool), lexical.shape)
    return Evidence(lexical, semantic, usable, wrong, on)


def judge(ev: Evidence, th: Thresholds) -> Judgement:
    """Credit per key point from the prose units that say it and do not contradict it (rubric_meaning.py):
    1 at the covered threshold (or the lexical one), linear from the partial floor, else 0; 0 for a point
    that only contradicting units reach."""
    full = ev.usable & ((ev.lexical >= th.lexical) | (ev.semantic >= th.covered))
    covered = (full & ~ev.contradicts).any(axis=1)
    contradicted = ~covered & (full & ev.contradicts).any(axis=1)
    credit = covered.astype(float)
    if ev.semantic_on and ev.semantic.size:
        near = np.where(ev.usable & ~ev.contradicts, ev.semantic, 0.0).max(axis=1)
        ramp = np.clip((near - th.partial) / max(th.covered - th.partial, 1e-6), 0.0, 1.0)
        credit = np.maximum(credit, np.where(covered, 1.0, ramp))
    # A point the answer states wrongly earns nothing, however close its other sentences come.
    return Judgement(np.where(contradicted, 0.0, credit), covered, contradicted)


# ---------------------------------------------------------------- scoring


def _zero(key_points: Sequence[str], feedback: str) -> RubricScore:
    return RubricScore(0.0, (), tuple(key_points), 0.0, feedback)


def unscorable(answer: str) -> str | None:
    """Feedback for an answer that cannot earn points (empty, too short, nonsense), else None."""
    text = (answer or "").strip()
    if not text:
        return ("No answer was given, so it scored 0. Try to say what you know: the key idea, how it "
                "works, and when you would use it.")
    if len(words(text)) < MIN_WORDS:
        return (f"The answer is too short to score (fewer than {MIN_WORDS} words), so it scored 0. "
                "Explain the idea in a few full sentences.")
    if looks_like_nonsense(text):
        return "The answer does not read as words, so it scored 0. Write your explanation in plain sentences."
    return None


def score_answer(answer: str, key_points: Sequence[str], embed: EmbedFn | None = None,
                 threshold: float | None = None, *, question: str | None = None, reference: str | None = None,
                 thresholds: Thresholds | None = None) -> RubricScore:
    """Score ``answer`` 0-10 on ``key_points``: each covered point earns full credit, one the answer only
    comes near earns partial credit (with ``embed``), one it contradicts earns none. Never raises on bad input.

    ``threshold`` overrides the covered threshold (semantic with ``embed``, else lexical); ``thresholds``
    all of them (calibration). ``question``: restating it earns nothing (see best_matches).
    ``reference``: the reference answer, whose sentences are matched as well as the terse key points."""
    th = thresholds or Thresholds()
    if threshold is not None:
        th = (Thresholds(threshold, min(th.partial, threshold), th.lexical) if embed is not None
              else Thresholds(th.covered, th.partial, threshold))
    points = tuple(p.strip() for p in (key_points or ()) if p and p.strip())
    text = (answer or "").strip()[:MAX_ANSWER_CHARS]
    if not points:
        return RubricScore(0.0, (), (), 0.0, "This question has no rubric key points, so the answer "
                                               "could not be scored.")
    problem = unscorable(text)
    if problem:
        return _zero(points, problem)
    if question and not any(adds_to_question(u, question) for u in answer_units(text)):
        return _zero(points, "The answer only restates the question, so it scored 0. Explain the idea itself: "
                             "what it is, how it works, when to use it.")
    if not any(reads_as_prose(s) for s in answer_units(text)):
        return _zero(points, "The answer strings terms together without saying anything about them, so it "
                             "scored 0. Explain in full sentences how the ideas connect.")
    ev = gather(text, points, embed, question=question, reference=reference)
    j = judge(ev, th)
    covered = tuple(p for p, h in zip(points, j.covered) if h)
    missed = tuple(p for p, h in zip(points, j.covered) if not h)
    wrong = tuple(p for p, h in zip(points, j.contradicted) if h)
    partly = tuple(p for p, h, c in zip(points, j.covered, j.credit) if not h and c > 0)
    coverage = len(covered) / len(points)
    score = th.score(j.credit)
    return RubricScore(score, covered, missed, coverage, feedback_for(coverage, covered, missed, wrong, partly), wrong)


def says_the_reference(r: RubricScore) -> bool:
    """A generated model answer may be shown as a model answer only when the rubric would call it strong
    (STRONG_SCORE, the scoring set's strong band) and it contradicts no key point."""
    return r.score >= STRONG_SCORE and not r.contradicted


def feedback_for(coverage: float, covered: Sequence[str], missed: Sequence[str],
                 contradicted: Sequence[str] = (), partly: Sequence[str] = ()) -> str:
    n = len(covered) + len(missed)
    head = f"You covered {len(covered)} of {n} key points."
    if partly:
        head += f" You came close to {len(partly)} more (partial credit): " + "; ".join(partly) + "."
    if contradicted:
        head += (" Some of what you said contradicts the reference (a negation or swapped terms): "
                 + "; ".join(contradicted) + ".")
    if not covered and not partly:
        return (f"{head} The answer did not touch the ideas an interviewer looks for here; "
                f"start with: {missed[0]}.")
    if not missed:
        return f"{head} Complete answer: every key point is there."
    verdict = "Good answer" if coverage >= 0.6 else "A start"
    return f"{head} {verdict}; to make it stronger, also mention: " + "; ".join(missed) + "."

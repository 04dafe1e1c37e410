"""Rubric scoring of an interview answer against the question's key points.

Owns one decision: which key points an answer covers, and the 0-10 score and feedback that
follow from it. Used by the interview coach (tutor/features/interview.py) and by the training
evaluation (key-point coverage of generated answers), so both measure the same thing.

A key point counts as covered when it is close enough to the best-matching *unit* of the answer
(a sentence, or two adjacent sentences: an idea often spans a sentence break), by either of:

- lexical: the share of the point's content-word stems found in the unit >= LEXICAL_THRESHOLD;
- semantic (when ``embed`` is given, e.g. MiniLM's ``Embedder.embed``): cosine similarity of the
  point to the unit >= SEMANTIC_THRESHOLD. It catches paraphrases that share few words.

Without ``embed`` only the lexical test runs (the fallback). Both thresholds are calibrated on the
interview bank by scripts/calibrate_rubric.py: each reference answer must cover its own points,
and the reference answer of another question of the same topic must not.

Empty, too short or nonsense answers score 0 with feedback; nothing here raises on bad input.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tutor.retrieval.chunking import split_sentences

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]

# Calibrated by scripts/calibrate_rubric.py on the 317-question bank (1,585 key points) as of
# 2026-11-23 03:13 UTC. Own-reference recall / same-topic false positives / other-topic false positives:
#   lexical >= 0.5 alone:                       0.990 / 0.024 / 0.008
#   MiniLM alone at 0.45 (its best):            0.984 / 0.046 / 0.006   (at 0.5: 0.914 / 0.024 / 0.001)
#   lexical >= 0.5 OR MiniLM >= 0.5 (shipped):  0.998 / 0.040 / 0.009
# An "answer" that only restates the question (plus filler) covers 5.6% of points with the shipped
# hybrid when the question is passed (all 317 questions); on an 80-question sample, 6.2% with the
# question and 15.2% without it. ECHO_SIMILARITY was chosen, not swept. Full tables:
# bench/results/rubric_calibration.json.
# The hybrid's recall - FP is flat from 0.5 to 0.7 (0.959-0.967); 0.5 keeps more of MiniLM's
# paraphrase matching, which matters more for candidates' own wording than for reference answers
# (whose key points were written from the same text, so lexical overlap flatters them).
SEMANTIC_THRESHOLD = 0.5
LEXICAL_THRESHOLD = 0.5

ECHO_SIMILARITY = 0.85  # an answer sentence this close to the question restates it (see best_matches)
EMBED_CHUNK = 7  # texts per embedding call: below the embedder's bulk (bf16) size, see embed_texts
MIN_WORDS = 3  # "I don't know" and single words are not an answer to an interview question
MAX_ANSWER_CHARS = 6000  # longer answers are scored on their start (bounds embedding cost)
MAX_UNITS = 80  # sentences scored at most, for the same reason

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'+-]*|\d+(?:\.\d+)?")
_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}", re.IGNORECASE)

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


@dataclass(frozen=True)
class RubricScore:
    score: float  # 0-10, one decimal
    covered: tuple[str, ...]
    missed: tuple[str, ...]
    coverage: float  # 0-1: share of key points covered
    feedback: str


# ---------------------------------------------------------------- text helpers


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
                 threshold: float | None = None, *, question: str | None = None) -> RubricScore:
    """Score ``answer`` 0-10 by the share of ``key_points`` it covers. Never raises on bad input.

    ``threshold`` overrides SEMANTIC_THRESHOLD when ``embed`` is given, else LEXICAL_THRESHOLD.
    ``question``: when given, restating the question earns nothing (see best_matches)."""
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
    lexical = best_matches(text, points, None, question)
    hit = lexical >= (LEXICAL_THRESHOLD if embed is not None or threshold is None else threshold)
    if embed is not None:
        try:
            semantic = best_matches(text, points, embed, question)
            hit |= semantic >= (SEMANTIC_THRESHOLD if threshold is None else threshold)
        except Exception:  # noqa: BLE001 - a failing embedder must not cost the learner a score
            logger.exception("semantic rubric scoring failed; using the lexical test alone")
    covered = tuple(p for p, h in zip(points, hit) if h)
    missed = tuple(p for p, h in zip(points, hit) if not h)
    coverage = len(covered) / len(points)
    score = round(10.0 * coverage, 1)
    return RubricScore(score, covered, missed, coverage, feedback_for(coverage, covered, missed))


def feedback_for(coverage: float, covered: Sequence[str], missed: Sequence[str]) -> str:
    n = len(covered) + len(missed)
    head = f"You covered {len(covered)} of {n} key points."
    if not covered:
        return (f"{head} The answer did not touch the ideas an interviewer looks for here; "
                f"start with: {missed[0]}.")
    if not missed:
        return f"{head} Complete answer: every key point is there."
    verdict = "Good answer" if coverage >= 0.6 else "A start"
    return f"{head} {verdict}; to make it stronger, also mention: " + "; ".join(missed) + "."

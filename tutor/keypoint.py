"""Key point: the course sentences that answer a question, quoted at the top of an answer and sent to the model.

Why: the embedded 135M model often rambles or invents facts even when retrieval found the right
passage. Quoting the retrieved sentences that answer the question gives the learner a correct, cited
statement from the course in every grounded answer, whatever the model then writes. Extractive, so it
can only be as wrong as the course material. The same selection gives the model short notes (the
answering sentences of each retrieved chunk) instead of three whole chunks: a smaller prompt is faster
on a CPU (prompt processing dominates there), and a small model copies less of what does not answer.

A candidate is a window of 1-3 adjacent sentences of one chunk. It is scored by what answers the
question, in this order of weight: the IDF-weighted share of the question's content words the window
holds (a window that names what was asked), the share in its section heading (the section is about the
question), and the embedder's cosine to the question (the mean of its sentences' vectors, so each
sentence is embedded once), plus LENGTH_COST per sentence beyond the first. A best window under
MIN_QUOTE_WORDS goes on with the sentences after it; with `second`, the best window of another chunk that
scores nearly as well is quoted too (a section chunked in two, or an answer spread over two sections). Weights measured with bench/tutor_eval.py key_point_fact_share_all
(the share of the key facts the quote alone carries, no model needed), chosen on the even-numbered dev
questions and checked on the odd ones (numbers in the constants' comments).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tutor.retrieval.bm25 import tokenize
from tutor.retrieval.chunking import SECTION_SEP, split_sentences
from tutor.retrieval.coverage import content_words
from tutor.retrieval.embeddings import Embedder
from tutor.types import RetrievedChunk

LABEL = "**From the course"
MIN_WORDS, MAX_WORDS = 6, 60  # per sentence: shorter is rarely a statement; longer is a paragraph
# Measured on the 84 dev questions (key_point_fact_share_all; even / odd halves; all-facts share in brackets):
# the best single sentence by cosine with the heading (before) 0.52 all; windows of up to 3 sentences and
# 75 words 0.61 / 0.63 (0.48 / 0.48); up to 5 sentences and 90 words with a small bonus per sentence
# 0.66 / 0.68 (0.57 / 0.55), extract p50 43 words, p95 85; with formulas ("A - lambda I") no longer taken
# for flattened lists, 0.69 / 0.77 (0.60 / 0.62). 110 words gained 2 points more, but the shown answer must
# stay under 200 words with the model's explanation. 2026-12-07 (python -m bench.tutor_eval's
# key_point_fact_share_all, the same halves): inline code allowed in prose sentences 0.74 / 0.75 (0.64 / 0.62);
# a window under 40 words continued by the sentences after it 0.75 / 0.80 (0.64 / 0.69), extract p50 53 words
# (55 words: no gain); a second quote from another chunk within 0.1 of the first 0.78 / 0.84 (0.67 / 0.71),
# within 0.2 0.81 / 0.87 (0.71 / 0.74), p50 65, p95 116 (0.3: the same facts, p50 77). The retrieved chunks
# hold every fact for 94% of the questions (the ceiling of any extract); of the facts still missed, about a
# third sit in the quoted chunk outside the window, a third in another chunk, a quarter were not retrieved.
WINDOW_SENTENCES = 5  # at most this many adjacent sentences in one quote
WINDOW_WORDS = 90  # ... and at most this many words: the quote is the point, not the section
WHOLE_CHUNK_WORDS = 70  # a chunk this short is quoted whole: its topic sentence was left out ("split into two families according
# to the type of label"); on the even dev questions 60/70/80 gave all-facts 0.786/0.810/0.810, the odd ones 0.762 each
MIN_QUOTE_WORDS = 40  # a shorter best window goes on with the sentences after it (see _completed)
SECOND_MARGIN = 0.2  # a second quote (another chunk) scores at most this much under the first
SECOND_WORDS = 45  # ... and is at most this long: the answer stays short
SECOND_MIN_NEW = 0.5  # ... and at least this share of its words is not in the first quote
LEXICAL_WEIGHT = 0.3  # the question's content words in the window, against cosine (0-1 each)
HEADING_WEIGHT = 0.2  # the question's words in the section heading (0.1-0.4 measured the same)
# Per sentence beyond the first. Slightly negative: the mean vector's cosine already drops when a sentence
# off the question joins, so among windows that stay on the question the longer one (more of the answer)
# wins; 0 and above measured 4-7 points fewer facts.
LENGTH_COST = -0.02
# A document's introduction (text under the title alone) previews every topic of the lesson, so it shares
# words with many questions without answering them.
INTRO_COST = 0.1  # measured neutral on the dev share (it only moves which sentences tie), and the intro stays out
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`]*`")
MAX_CODE_SHARE = 0.3  # of a sentence's characters in inline code, at most
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# A sentence that addresses the model rather than the learner (a prompt injection inside a document) is
# never quoted or sent: it cannot be what answers a course question.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|rules|notes|prompt)\b|\bnew instructions\b"
    r"|\b(?:system|assistant|administrator|AI tutor)\b\s*(?:notice|note|message)?\s*[:\]]"
    r"|\byou are now\b|\breply only with\b", re.IGNORECASE)
# Words joined by " - " are a flattened list ("Schedules matter - warmup helps"); "A - lambda I" or "k - 1"
# is a formula, and formulas are much of what a maths course states.
_DASHED = re.compile(r"[A-Za-z]{3,} - [A-Za-z]{3,}")
# A sentence about the document itself ("This lesson covers ...") says what is coming, not what is true: the
# lesson intro matched many questions' words and was quoted instead of the answer.
_META = re.compile(r"^(?:in\s+)?(?:this|the following)\b[^.]{0,30}?\b(?:document|lesson|chapter|section|guide|"
                   r"article|page|tutorial|course|notes?)\b", re.IGNORECASE)
# Sentences that show a worked result (a number computed, an example): left out of a Socratic hint, which
# names the concept and the rule but must not hand over the result. "= 0" is left in: it states a condition
# ("det(A - lambda I) = 0"), not a computed value.
_WORKED = re.compile(
    r"\bworked example\b|\bfor example\b|\be\.g\.|\bexample\b|=\s*-?\(?(?!0(?![\d.]))\d|\b(?:equals|gives|is)\s+-?\d"
    r"|\d\.\d|\d\s*%|\b\d+\s*/\s*\d+\b", re.IGNORECASE)


_WORKED_SECTION = re.compile(r"\b(?:worked\s+examples?|examples?\s*:|solutions?|exercises?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class KeyPoint:
    source_index: int  # the [n] of the chunk it comes from (1-based, as in the answer's sources)
    text: str
    similarity: float  # the selection score (cosine plus word shares), not a bare cosine
    also: tuple["KeyPoint", ...] = ()  # a quote from another retrieved chunk that completes this one

    def markdown(self) -> str:
        return "".join(f"{LABEL} [{k.source_index}]:** {k.text}\n\n" for k in (self, *self.also))

    @property
    def full_text(self) -> str:
        """Every quoted sentence: what the learner reads before the model's words."""
        return " ".join(k.text for k in (self, *self.also))


@dataclass(frozen=True)
class Passage:
    """A window of adjacent candidate sentences of one retrieved chunk."""

    source_index: int  # 1-based, as the chunk's [n]
    start: int  # position of its first sentence among the chunk's candidates
    sentences: tuple[str, ...]
    heading: str

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Selection:
    """The scored windows of one question over its hits (per request; never shared)."""

    passages: tuple[Passage, ...]
    scores: tuple[float, ...]
    sentences: dict[int, tuple[str, ...]]  # source index -> that chunk's candidate sentences
    # Source indexes whose text must not reach the model or the learner here (a worked solution in a
    # Socratic hint): neither quoted nor sent, not even as a chunk's first words.
    withheld: frozenset[int] = frozenset()

    def best(self, source_index: int | None = None) -> tuple[Passage, float] | None:
        pairs = [(p, s) for p, s in zip(self.passages, self.scores)
                 if source_index is None or p.source_index == source_index]
        return max(pairs, key=lambda ps: ps[1]) if pairs else None


def is_statement(s: str) -> bool:
    """A complete sentence worth quoting: a chunk can start mid-sentence (overlap), flattened lists read as
    run-ons, inline code reads badly out of context, and neither an instruction to the model nor a sentence
    about the document itself is course content."""
    n = len(s.split())
    return (MIN_WORDS <= n <= MAX_WORDS and s[-1] in ".!?:" and (s[0].isupper() or s[0].isdigit())
            and _mostly_prose(s) and not _DASHED.search(s) and not _INSTRUCTION.search(s) and not _META.search(s))


def _mostly_prose(s: str) -> bool:
    """Inline code is fine in a sentence that explains it ("an iterator has a `__next__` method"); a sentence
    that is mostly code reads badly out of its example."""
    if s.count("`") % 2:
        return False  # a code span cut by the sentence split
    code = sum(len(m) for m in _INLINE_CODE.findall(s))
    return code <= MAX_CODE_SHARE * len(s)


def _lines(text: str) -> list[str]:
    """Prose lines of a chunk, a hard-wrapped paragraph joined into one: a sentence that runs over a line
    break is one sentence. List items, headings, tables and quotes stay lines of their own."""
    out: list[str] = []
    joinable = False
    for line in _FENCE.sub("\n\n", text).splitlines():
        stripped = line.strip()
        if not stripped:
            joinable = False
            continue
        item = bool(_LIST_MARK.match(line)) or stripped.startswith(("#", "|", ">"))
        if joinable and not item:
            out[-1] = f"{out[-1]} {stripped}"
        else:
            out.append(stripped)
        joinable = not stripped.startswith(("#", "|", ">"))
    return out


def chunk_sentences(text: str) -> list[str]:
    """A chunk's candidate sentences in order; code blocks, headings, tables and fragments left out."""
    out: list[str] = []
    for line in _lines(text):
        line = _LIST_MARK.sub("", line).strip()
        if not line or line.startswith(("#", "|", ">")):
            continue
        out.extend(s for s in split_sentences(line) if is_statement(s))
    return out


def candidate_sentences(hits: Sequence[RetrievedChunk]) -> list[tuple[int, str]]:
    """(source index, sentence) pairs from the retrieved chunks."""
    return [(i, s) for i, h in enumerate(hits, start=1) for s in chunk_sentences(h.chunk.text)]


def is_worked_result(sentence: str) -> bool:
    return bool(_WORKED.search(sentence))


def is_worked_section(chunk: RetrievedChunk) -> bool:
    """A section that works a problem through ("Worked example: tracing merge sort and searching the
    result"): its sentences are steps of a solution ("returns 5 after only two comparisons") that no
    sentence test can tell from course statements, and a homework problem is often that very example."""
    return bool(_WORKED_SECTION.search(chunk.chunk.section.split(" > ")[-1]))


def _windows(sentences: dict[int, tuple[str, ...]], heads: dict[int, str]) -> list[Passage]:
    out = []
    for i, sents in sentences.items():
        for start in range(len(sents)):
            for n in range(1, WINDOW_SENTENCES + 1):
                win = sents[start:start + n]
                if len(win) < n or (n > 1 and sum(len(s.split()) for s in win) > WINDOW_WORDS):
                    break
                out.append(Passage(i, start, tuple(win), heads[i]))
    return out


def _local_idf(texts: Sequence[str]) -> Callable[[str], float]:
    df: dict[str, int] = {}
    for t in texts:
        for w in set(tokenize(t)):
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    return lambda w: math.log1p((n + 1) / (df.get(w, 0) + 1))


def _share(words: Sequence[str], toks: set[str], idf: Callable[[str], float]) -> float:
    total = sum(idf(w) for w in words)
    return sum(idf(w) for w in words if w in toks) / total if total > 0 else 0.0


def select(question: str, hits: Sequence[RetrievedChunk], embedder: Embedder,
           idf: Callable[[str], float] | None = None,
           keep: Callable[[str], bool] | None = None,
           withhold: Callable[[RetrievedChunk], bool] | None = None) -> Selection | None:
    """Score every window of every hit; `keep` filters sentences first (e.g. no worked results in a hint),
    `withhold` whole chunks (a worked-example section in a hint); a chunk left with nothing by either is
    withheld. `idf` is the knowledge base's (Retriever.idf), else one from the candidates. None: no chunk
    has a quotable sentence and none is withheld."""
    every = {i: chunk_sentences(h.chunk.text) for i, h in enumerate(hits, start=1)}
    sentences = {i: tuple(s for s in every[i] if keep is None or keep(s)) for i in every}
    withheld = frozenset(i for i, h in enumerate(hits, start=1)
                         if (withhold is not None and withhold(h)) or (every[i] and not sentences[i]))
    sentences = {i: s for i, s in sentences.items() if s and i not in withheld}
    if not sentences:
        return Selection((), (), {}, withheld) if withheld else None
    heads = {i: h.chunk.section for i, h in enumerate(hits, start=1)}
    flat = [(i, k) for i, sents in sentences.items() for k in range(len(sents))]
    texts = [sentences[i][k] for i, k in flat]
    idf = idf or _local_idf(texts)
    known = frozenset(t for t in tokenize(" ".join(texts + list(heads.values()))))
    words = content_words(question, known)
    vecs = embedder.embed([question] + texts)
    q, row = vecs[0], {key: vecs[n + 1] for n, key in enumerate(flat)}
    toks = {key: set(tokenize(texts[n])) for n, key in enumerate(flat)}
    # A quote starts on a sentence that names something asked when any of its sentences does, so it never
    # opens on the neighbour before the answer.
    windows = [w for w in _windows(sentences, heads)
               if toks[(w.source_index, w.start)] & set(words)
               or not any(toks[(w.source_index, w.start + k)] & set(words) for k in range(len(w.sentences)))]
    scores = []
    for w in windows:
        keys = [(w.source_index, w.start + k) for k in range(len(w.sentences))]
        mean = np.sum([row[k] for k in keys], axis=0)
        cos = float(np.dot(mean, q) / (np.linalg.norm(mean) * np.linalg.norm(q) + 1e-9))
        held = set().union(*(toks[k] for k in keys))
        scores.append(cos + LEXICAL_WEIGHT * _share(words, held, idf)
                      + HEADING_WEIGHT * _share(words, set(tokenize(w.heading)), idf)
                      - LENGTH_COST * (len(w.sentences) - 1) - (INTRO_COST if SECTION_SEP not in w.heading else 0.0))
    return Selection(tuple(windows), tuple(scores), sentences, withheld)


def find_key_point(question: str, hits: Sequence[RetrievedChunk], embedder: Embedder,
                   idf: Callable[[str], float] | None = None,
                   keep: Callable[[str], bool] | None = None, selection: Selection | None = None,
                   second: bool = False) -> KeyPoint | None:
    """The best-answering window over all hits, or None when no hit holds a quotable sentence. A `selection`
    already made for these hits is reused (the tutor makes one per question for the notes too). `second`:
    add the best window of another chunk when it scores nearly as well (see _second)."""
    sel = selection if selection is not None else select(question, hits, embedder, idf, keep)
    best = sel.best() if sel else None
    if best is None:
        return None
    p, score = best
    first = _completed(p, sel.sentences[p.source_index], _about(question, p.heading))
    also = _second(sel, first, score) if second else ()
    return KeyPoint(p.source_index, first.text, score, also)


def _second(sel: Selection, first: Passage, score: float) -> tuple[KeyPoint, ...]:
    """The best window of a different chunk, when it scores within SECOND_MARGIN of the first and adds what
    the first does not say: a section split over two chunks ("non-negative edge weights" in one, "priority
    queue" in the next), or two sections that each hold half the answer."""
    said = set(tokenize(first.text))
    pairs = [(p, s) for p, s in zip(sel.passages, sel.scores)
             if p.source_index != first.source_index and s >= score - SECOND_MARGIN and p.words <= SECOND_WORDS]
    for p, s in sorted(pairs, key=lambda ps: -ps[1]):
        new = set(tokenize(p.text)) - said
        if len(new) >= SECOND_MIN_NEW * len(set(tokenize(p.text))):
            return (KeyPoint(p.source_index, p.text, s),)
    return ()


def _about(question: str, heading: str) -> bool:
    """True when the section heading names something the question asks about (a shared word, or a shared
    5-letter start: "independent" / "Independence"): the chunk is then about the question as a whole."""
    asked = [w for w in tokenize(question) if len(w) >= 3]
    head = tokenize(heading)
    return any(a == h or (len(a) >= 5 and len(h) >= 5 and a[:5] == h[:5]) for a in asked for h in head)


def _completed(p: Passage, sentences: Sequence[str], about: bool = False) -> Passage:
    """The window continued by the sentences after it while it is under MIN_QUOTE_WORDS: one short sentence
    names the answer ("He initialization is designed for ReLU.") and the next says what it is (the variance
    rule); the embedding score alone prefers the short one, whose mean vector stays closest to the question."""
    out = p
    for nxt in sentences[p.start + len(p.sentences):]:
        if out.words >= MIN_QUOTE_WORDS or out.words + len(nxt.split()) > WINDOW_WORDS:
            break
        out = Passage(p.source_index, p.start, out.sentences + (nxt,), p.heading)
    if about and sum(len(x.split()) for x in sentences) <= WHOLE_CHUNK_WORDS:
        return Passage(p.source_index, 0, tuple(sentences), p.heading)
    # At the chunk's end, the sentences before it: a chunk's closing sentence often leans on the one before
    # ("Mutually exclusive events ... are never independent" after the definition of independence). Both
    # this and the whole short chunk only where the heading says the chunk is about the question: a chunk
    # can mix topics. Key-point fact share on the dev questions 0.837 -> 0.881 (even 0.806 -> 0.869, odd
    # 0.869 -> 0.893); this step without the heading condition scored 0.893, the extra on even questions only.
    while about and out.words < MIN_QUOTE_WORDS and out.start > 0:
        prev = sentences[out.start - 1]
        if out.words + len(prev.split()) > WINDOW_WORDS:
            break
        out = Passage(p.source_index, out.start - 1, (prev,) + out.sentences, p.heading)
    return out

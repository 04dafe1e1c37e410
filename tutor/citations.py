"""Citations: the one owner of the marker rule. Every [n] a learner sees names a retrieved excerpt, and
the final answer cites the excerpt that holds each claim.

``Citations`` follows one answer: ``feed``/``flush`` filter the stream (an invalid marker never
reaches the learner, even mid-stream), ``finalize`` re-points misplaced markers, drops a marker whose
excerpt does not hold its claim, marks a sentence the excerpts do not support, or attributes an
unmarked grounded answer to the excerpt it overlaps most; ``numbers`` lists what the text cites.
The functions below it are the rules themselves, kept public for their table-driven tests.
"""
from __future__ import annotations

import re
from typing import Sequence

from tutor.retrieval.bm25 import tokenize
from tutor.types import RetrievedChunk


class Citations:
    """The citation state of one answer over its retrieved excerpts (one per request: not shared)."""

    def __init__(self, hits: Sequence[RetrievedChunk]) -> None:
        self.hits = tuple(hits)
        self._filter = CitationFilter(len(self.hits))

    @property
    def cited(self) -> list[int]:
        """Valid markers the model wrote so far, in order of first use."""
        return self._filter.cited

    def feed(self, text: str) -> str:
        return self._filter.feed(text)

    def flush(self) -> str:
        return self._filter.flush()

    def finalize(self, body: str) -> tuple[str, str]:
        """(the model's text with each marker on the excerpt that holds its claim, a marker to append).

        The streamed text already showed the model's markers; the final answer (what the tabs keep) is
        checked. A grounded answer with no marker at all is attributed to the excerpt it overlaps most,
        so the learner can check the source."""
        if not self.hits or not body.strip():  # nothing written (e.g. stopped copying the extract): nothing to cite
            return body, ""
        if self.cited:
            fixed, _moved = repoint_citations(body, self.hits)
            fixed, _dropped = drop_unsupported_markers(fixed, self.hits)
            return mark_unsupported(fixed, self.hits), ""
        best = best_supporting_sources(body, self.hits, limit=1)
        return mark_unsupported(body, self.hits), "".join(f" [{i}]" for i in best)

    def numbers(self, text: str) -> tuple[int, ...]:
        return citations_in(text, len(self.hits))


_CITE = re.compile(r"\[(\d{1,3})\]")
# x[0] or f(x)[1] is code, not a citation: a marker never directly follows a name or a call.
_CITE_IN_TEXT = re.compile(r"(?<![\w)])\[(\d{1,3})\]")


class CitationFilter:
    """Streams text through, dropping any [n] that does not name a retrieved source.

    A '[' is held back until the bracket closes (or clearly is not a citation), so an invalid
    marker never reaches the learner even mid-stream.
    """

    MAX_HOLD = 6  # "[123]" is 5 chars; longer bracketed text is ordinary text

    def __init__(self, n_sources: int) -> None:
        self.n = n_sources
        self._held = ""
        self._prev = " "
        self.cited: list[int] = []

    def feed(self, text: str) -> str:
        out = []
        for ch in text:
            if self._held:
                self._held += ch
                if ch == "]":
                    out.append(self._resolve(self._held))
                    self._held = ""
                elif not (ch.isdigit()) or len(self._held) > self.MAX_HOLD:
                    out.append(self._held)
                    self._held = ""
            elif ch == "[" and not (self._prev.isalnum() or self._prev in "_)"):
                self._held = ch
            else:
                out.append(ch)
            self._prev = ch
        return "".join(out)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _resolve(self, marker: str) -> str:
        m = _CITE.fullmatch(marker)
        if not m:
            return marker
        idx = int(m.group(1))
        if 1 <= idx <= self.n:
            if idx not in self.cited:
                self.cited.append(idx)
            return marker
        return ""  # points at nothing we retrieved: drop it


def citations_in(text: str, n_sources: int) -> tuple[int, ...]:
    seen: list[int] = []
    for m in _CITE_IN_TEXT.finditer(text):
        i = int(m.group(1))
        if 1 <= i <= n_sources and i not in seen:
            seen.append(i)
    return tuple(seen)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "the a an of to in and or is are was were be been it its this that for on with as by at from which "
    "can we you your i not but if then so do does what how why when where".split()
)


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def best_supporting_sources(answer: str, hits: Sequence[RetrievedChunk], limit: int = 1) -> list[int]:
    """1-based indices of the retrieved chunks whose words the answer shares most.

    Used when the model wrote a grounded answer but no citation marker (the 135M model often
    forgets): the answer was generated from these excerpts, so we attribute it to the one(s)
    it overlaps most, ties broken by retrieval rank.
    """
    a = _terms(answer)
    scored = []
    for i, h in enumerate(hits, start=1):
        overlap = len(a & _terms(h.chunk.text)) if a else 0
        scored.append((-overlap, i))
    scored.sort()
    return [i for _, i in scored[:limit]]


_CITE_GROUP = re.compile(r"(?:\s*(?<![\w)])\[\d{1,3}\])+")
REPOINT_MIN_TERMS = 4  # the better excerpt must share at least this many content words with the claim
REPOINT_RATIO = 2.0  # ... and at least this many times as many as the cited one


def repoint_citations(answer: str, hits: Sequence[RetrievedChunk]) -> tuple[str, int]:
    """Check each citation against the text it closes (the words since the previous citation) and, when
    another retrieved excerpt clearly holds those words and the cited one does not, cite that one instead.

    Why: a small model (and the tutor adapter, trained on one-note prompts) tends to write "[1]" after
    whatever note it copied from. A wrong source is worse than none: the learner checks the wrong text.
    Returns the answer and how many markers were re-pointed."""
    if not hits:
        return answer, 0
    notes = [_terms(h.chunk.text) for h in hits]
    out, last, changed = [], 0, 0
    for m in _CITE_GROUP.finditer(answer):
        claim = _terms(answer[last:m.start()])
        group = m.group(0)
        cited = [int(x) for x in re.findall(r"\[(\d{1,3})\]", group) if 1 <= int(x) <= len(hits)]
        out.append(answer[last:m.start()])
        if claim and cited:
            overlaps = [len(claim & n) for n in notes]
            best = max(range(len(hits)), key=lambda i: (overlaps[i], -i))
            held = max(overlaps[i - 1] for i in cited)
            if (best + 1) not in cited and overlaps[best] >= REPOINT_MIN_TERMS \
                    and overlaps[best] >= REPOINT_RATIO * held:
                lead = group[: len(group) - len(group.lstrip())]
                group = f"{lead}[{best + 1}]"
                changed += 1
        out.append(group)
        last = m.end()
    out.append(answer[last:])
    return "".join(out), changed


CLAIM_MIN_TERMS = 4  # a claim with fewer content words is too short to judge: its marker stays
SUPPORT_MIN = 0.5  # share of a claim's content words its cited excerpt must hold (bench CITATION_OVERLAP)
UNSUPPORTED_MAX = 0.34  # a sentence sharing less than this with all excerpts together is the model's own
# A dagger after each unsupported sentence and one note at the end: a repeated inline phrase would read as
# (and measure as) a repetitive answer.
UNSUPPORTED_MARK = " †"
UNSUPPORTED_NOTE = "\n\n† _Not in the course notes: check these sentences elsewhere._"
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+(?:\s*(?<![\w)])\[\d{1,3}\])*|\n|$)")


def _folded(text: str) -> set[str]:
    """Content words with plurals folded and the larger stopword list (retrieval's tokenizer), so
    "functions" in a claim is held by "function" in the excerpt."""
    return set(tokenize(text))


def _held_share(claim: set[str], note: set[str]) -> float:
    return len(claim & note) / len(claim) if claim else 1.0


def drop_unsupported_markers(answer: str, hits: Sequence[RetrievedChunk]) -> tuple[str, int]:
    """Remove each marker whose excerpt does not hold the claim it closes (the words since the previous
    marker): a marker tells the learner "this is in source n", so it must be true. Returns the answer
    and how many markers were dropped."""
    notes = [_folded(h.chunk.text) for h in hits]
    out, last, dropped = [], 0, 0
    for m in _CITE_GROUP.finditer(answer):
        claim = _folded(answer[last:m.start()])
        out.append(answer[last:m.start()])
        kept = []
        for x in re.findall(r"\[(\d{1,3})\]", m.group(0)):
            i = int(x)
            ok = 1 <= i <= len(notes) and (len(claim) < CLAIM_MIN_TERMS or _held_share(claim, notes[i - 1]) >= SUPPORT_MIN)
            if ok and i not in kept:
                kept.append(i)
            dropped += not ok
        if kept:
            lead = m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
            out.append(lead + "".join(f"[{i}]" for i in kept))
        last = m.end()
    out.append(answer[last:])
    return "".join(out), dropped


def mark_unsupported(answer: str, hits: Sequence[RetrievedChunk]) -> str:
    """Mark each sentence whose content words the excerpts do not support (the model's own addition,
    possibly invented), so the learner knows which part to check; code blocks are left alone."""
    if not hits or "```" in answer:
        return answer
    notes: set[str] = set()
    for h in hits:
        notes |= _folded(h.chunk.text)
    out, marked = [], False
    for m in _SENTENCE.finditer(answer):
        sent = m.group(0)
        claim = _folded(_CITE.sub(" ", sent))
        if len(claim) >= CLAIM_MIN_TERMS and _held_share(claim, notes) < UNSUPPORTED_MAX and sent.strip():
            body = sent.rstrip()
            sent = body + UNSUPPORTED_MARK + sent[len(body):]
            marked = True
        out.append(sent)
    return "".join(out) + (UNSUPPORTED_NOTE if marked else "")


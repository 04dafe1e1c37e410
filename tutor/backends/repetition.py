"""Repetition guard: notice a degenerating answer while it streams, and say where to cut it cleanly.

Small models at temperature 0 fall into loops ("the gradient of the gradient of the ..."), runs of
citation markers ("[1][1][1]") or of punctuation ("!!!!!!"); left alone they stream to the token limit,
which is slow and unreadable. The checks mirror bench/tutor_eval_metrics.py degeneration_reasons (the
measure the tutor is judged by): a word 4-gram a third time, a marker run, a punctuation run, and a
whole sentence said twice. What the learner saw before the model's words (the quoted course extract)
can be given as context: its n-grams and sentences count as already said, so a model copying the extract
back is stopped too. The guard is pure text logic over the stream so far; StopScanner
(tutor/backends/stopping.py) uses it, so every backend stops generating at the same point.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

NGRAM, NGRAM_COUNT = 4, 3  # as bench/tutor_eval_metrics.py REPEAT_NGRAM, REPEAT_COUNT
MARKER_RUN = 3  # "[1][2][3]": three markers in a row
PUNCT_RUN = 4  # "!!!!" (same character); "..." stays legal
MIN_SENTENCE_WORDS = 5  # shorter repeated sentences ("Yes.") are normal
_FENCE = "```"

_MARKER = re.compile(r"\[\d{1,3}\]")
_MARKER_RUN = re.compile(r"(?:\[\d{1,3}\]\s*){%d,}" % MARKER_RUN)
_SAME_MARKER_TWICE = re.compile(r"\[(\d{1,3})\]\s*\[\1\]")
_PUNCT_RUN = re.compile(r"([^\w\s`|=\-#*_~])\1{%d,}" % (PUNCT_RUN - 1))  # markdown rules/fences/tables excluded
_WORD = re.compile(r"[a-z0-9']+")
_SENT_END = re.compile(r"[.!?](?=\s)|\n")


@dataclass(frozen=True)
class Degeneration:
    reason: str  # "repeated n-gram" | "repeated sentence" | "repeated markers" | "punctuation run"
    cut: int  # index into the text: keep text[:cut]


def _outside_code(text: str) -> str:
    """The text with fenced code blanked (same length): code repeats on purpose."""
    parts = text.split(_FENCE)
    return _FENCE.join(p if i % 2 == 0 else " " * len(p) for i, p in enumerate(parts))


def _words(text: str) -> list[tuple[str, int]]:
    return [(m.group(), m.start()) for m in _WORD.finditer(_MARKER.sub(lambda m: " " * len(m.group()), text.lower()))]


def _ngram_cut(text: str, context: str = "") -> int | None:
    seen: dict[tuple[str, ...], int] = {}
    before = [w for w, _ in _words(context)]
    for i in range(len(before) - NGRAM + 1):
        g = tuple(before[i:i + NGRAM])
        seen[g] = seen.get(g, 0) + 1
    words = _words(text)
    # the context's last words run on into the text: "... the extract ends | the answer starts"
    tail = [(w, -1) for w in before[-(NGRAM - 1):]] + words
    for i in range(len(tail) - NGRAM + 1):
        g = tuple(w for w, _ in tail[i:i + NGRAM])
        seen[g] = seen.get(g, 0) + 1
        if seen[g] >= NGRAM_COUNT:
            return max(0, next((pos for _, pos in tail[i:i + NGRAM] if pos >= 0), 0))
    return None


def _sentence_keys(text: str) -> Iterator[tuple[str, int, str, bool]]:
    """(normalised words, start, sentence, whether it has ended) for each sentence of `text`."""
    start = 0
    for m in _SENT_END.finditer(text + "\n"):
        sent = text[start:m.end()]
        yield " ".join(_WORD.findall(_MARKER.sub(" ", sent.lower()))), start, sent, m.end() <= len(text)
        start = m.end()


def _sentence_cut(text: str, context: str = "") -> int | None:
    said = {k for k, _, _, _ in _sentence_keys(context) if len(k.split()) >= MIN_SENTENCE_WORDS}
    seen: set[str] = set()
    for key, start, sent, finished in _sentence_keys(text):
        if len(key.split()) >= MIN_SENTENCE_WORDS:
            # the context's sentence only once this one has ended: "X is Y;" may go on differently
            if key in seen or (finished and key in said):
                return start + (len(sent) - len(sent.lstrip()))
            seen.add(key)
    return None


def find_degeneration(text: str, context: str = "") -> Degeneration | None:
    """The earliest sign of degeneration in `text`, or None. `cut` keeps the text before it. `context` is
    what the learner saw before `text` (the quoted extract): its n-grams and sentences count as said once."""
    plain = _outside_code(text)
    found: list[Degeneration] = []
    for reason, rx in (("repeated markers", _MARKER_RUN), ("repeated markers", _SAME_MARKER_TWICE)):
        m = rx.search(plain)
        if m:
            # keep the first marker of the run: a cited claim stays cited
            first = _MARKER.match(plain, m.start())
            found.append(Degeneration(reason, first.end() if first else m.start()))
    m = _PUNCT_RUN.search(plain)
    if m:
        found.append(Degeneration("punctuation run", m.start()))
    ctx = _outside_code(context)
    for reason, cut in (("repeated n-gram", _ngram_cut(plain, ctx)), ("repeated sentence", _sentence_cut(plain, ctx))):
        if cut is not None:
            found.append(Degeneration(reason, cut))
    return min(found, key=lambda d: d.cut) if found else None


def clean_cut(text: str, cut: int, floor: int = 0) -> int:
    """Where to end text cut at `cut`: after the last complete sentence before it when there is one
    at or after `floor` (what was already shown cannot be taken back), else at `cut` itself."""
    head = text[:cut]
    ends = [m.end() for m in _SENT_END.finditer(head) if m.end() >= floor]
    return ends[-1] if ends else max(cut, floor)


def context_sentences(context: str) -> tuple[str, ...]:
    """The normalised sentences of the context (as `copy_start` compares them)."""
    return tuple(k for k, _, _, _ in _sentence_keys(_outside_code(context)) if len(k.split()) >= MIN_SENTENCE_WORDS)


def copy_start(text: str, sentences: tuple[str, ...]) -> int | None:
    """Where the unfinished last sentence of `text` starts, when it reads so far like the start of one of
    the context's `sentences`: it may be a copy of the extract, so it is held back until it ends (and is
    cut whole) or turns into something else (and is shown)."""
    if not sentences:
        return None
    ends = [m.end() for m in _SENT_END.finditer(text)]
    start = ends[-1] if ends else 0
    key = " ".join(_WORD.findall(_MARKER.sub(" ", text[start:].lower())))
    if not key:
        return None
    return start if any(s.startswith(key) for s in sentences) else None


_SOFT_END = re.compile(r"[.!?](?=\s)|\n\n")
_PROSE_END = re.compile(r"[.!?](?=\s)")


def soft_end(text: str, words: int) -> int | None:
    """Where a text over its soft length ends: after the first sentence end once `words` words are written
    (never inside a fenced code block), or None while there is none yet. A code block that opens after
    that point ends the text before it: blanked code holds no sentence end, so a model that went on into
    a new example ran to the token limit (tutor_eval: "async and await", cut inside its second block)."""
    if words <= 0:
        return None
    plain = _outside_code(text)
    seen = list(_WORD.finditer(plain.lower()))
    if len(seen) < words:
        return None
    after = seen[words - 1].end()
    m = _SOFT_END.search(plain, after)
    fence = _opening_fence(text, after)
    if fence is not None and (m is None or fence < m.end()):
        lead = text[:fence].rstrip()
        if lead.endswith(":"):  # "... like this:" introduces the block: end at the sentence before it
            ends = [e.end() for e in _PROSE_END.finditer(_outside_code(lead))]
            return ends[-1] if ends else fence
        return fence
    return m.end() if m else None


HARD_FACTOR = 1.5  # the whole text, code included, past 1.5x the soft length ends at its last line end
HARD_MIN_EXTRA = 20  # ... and at least this many words past it (a 5-word budget still lets a short block through)


def hard_end(text: str, words: int) -> int | None:
    """Where a text that runs long in code ends: once all its words, code included, pass HARD_FACTOR x
    `words`, after its last complete line (None while it has none). soft_end never ends inside a code
    block, so a block that opened before the soft length ran on to the token limit (tutor_eval: the
    asyncio answer, twice); a code word costs the model ~2 tokens, so 1.5x a 45-word answer still ends
    before a 160-token cap. An unfinished block is closed by the caller (StopScanner)."""
    if words <= 0 or len(_WORD.findall(text.lower())) < max(HARD_FACTOR * words, words + HARD_MIN_EXTRA):
        return None
    i = text.rfind("\n")
    return i + 1 if i > 0 else None


def open_fence(text: str) -> bool:
    """True when the text ends inside a fenced code block."""
    return text.count(_FENCE) % 2 == 1


def _opening_fence(text: str, start: int) -> int | None:
    """The first code fence at or after `start` that opens a block (an even number of fences before it)."""
    i = text.find(_FENCE, start)
    while i != -1:
        if text.count(_FENCE, 0, i) % 2 == 0:
            return i
        i = text.find(_FENCE, i + len(_FENCE))
    return None

"""Stop strings over a text stream, shared by the streaming backends (pure Python, no torch).

A stop string and everything after it is never shown. A stream arrives in pieces, so the end of
the text seen so far may be the start of a stop string ("<|im" before "_end|>"): that tail is held
back until the next piece decides it, and never yielded half-way.

With `guard=True` the scanner also stops a degenerating answer (tutor/backends/repetition.py): the last
HOLD_CHARS are held back (about one repeated 4-gram), so the cut lands before the repeat is shown, on a
sentence end when one follows what was shown; `degenerate` names the reason and the backend reports
finish_reason "repetition". With a context (the text shown before the model's words) the guard counts
repeats across it. With `soft_words` the stream ends at the first sentence end after that many words,
a clean stop (finish reason "stop"), so a bounded answer never ends mid-sentence at the token limit; an
answer long in code ends at a line end once all its words pass 1.5x that (an open code block closed).
"""
from __future__ import annotations

from tutor.backends.repetition import (clean_cut, context_sentences, copy_start, find_degeneration, hard_end,
                                      open_fence, soft_end)
from tutor.types import GenerationParams

HOLD_CHARS = 32  # about one word 4-gram: the stream still flows word by word, a few words behind


def find_stop(text: str, stops: tuple[str, ...], start: int = 0) -> int:
    """Index of the earliest stop string in text[start:] (as an index into text), or -1."""
    best = -1
    for s in stops:
        i = text.find(s, start)
        if i != -1 and (best == -1 or i < best):
            best = i
    return best


def partial_stop_len(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


class StopScanner:
    """Feed stream pieces; get back the text that is safe to show, and whether a stop string hit.

    >>> sc = StopScanner(("END",))
    >>> sc.feed("Hello E"), sc.feed("NDing"), sc.text
    (('Hello ', False), ('', True), 'Hello ')
    """

    def __init__(self, stops: tuple[str, ...] | list[str] = (), guard: bool = False, context: str = "",
                 soft_words: int = 0) -> None:
        self.stops = tuple(s for s in stops if s)
        self.guard = guard
        self.context = context
        self._context_keys = context_sentences(context) if guard else ()
        self.soft_words = soft_words
        self._buf = ""
        self._emitted = 0
        self.stopped = False
        self.degenerate: str | None = None  # the repetition guard's reason, when it stopped the stream

    @classmethod
    def for_params(cls, params: GenerationParams) -> "StopScanner":
        """The scanner a request's parameters ask for (every backend builds it this way)."""
        return cls(params.stop, guard=params.stop_on_repetition, context=params.repetition_context,
                   soft_words=params.stop_after_words)

    @property
    def text(self) -> str:
        """Everything handed out so far (feed results plus flush)."""
        return self._buf[: self._emitted]

    def feed(self, piece: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        self._buf += piece
        hit = find_stop(self._buf, self.stops, self._emitted) if self.stops else -1
        # Text before _emitted was checked already and cannot start a stop string that runs on
        # (the held-back tail is the longest such start), so searching from _emitted is enough.
        if self.guard and self._degenerated(hit):
            return self._stop_at(len(self._buf))
        if hit != -1:
            return self._stop_at(hit)
        end = soft_end(self._buf, self.soft_words)
        if end is not None:
            return self._stop_at(max(end, self._emitted))
        end = hard_end(self._buf, self.soft_words)
        if end is not None:
            out, stopped = self._stop_at(max(end, self._emitted))
            if open_fence(self._buf):  # ended inside a code block: close it, or the rest renders as code
                closing = ("" if self._buf.endswith("\n") else "\n") + "```\n"
                self._buf += closing
                self._emitted = len(self._buf)
                out += closing
            return out, stopped
        safe = len(self._buf) - partial_stop_len(self._buf[self._emitted:], self.stops)
        if self.guard:
            safe = min(safe, max(self._emitted, len(self._buf) - HOLD_CHARS))
            copying = copy_start(self._buf, self._context_keys)
            if copying is not None:  # maybe the extract again: hold the sentence until it decides
                safe = min(safe, max(self._emitted, copying))
        out, self._emitted = self._buf[self._emitted:safe], max(self._emitted, safe)
        return out, False

    def _degenerated(self, hit: int) -> bool:
        """Cut the buffer where the answer starts to degenerate (before any stop string)."""
        text = self._buf if hit == -1 else self._buf[:hit]
        d = find_degeneration(text, self.context)
        if d is None:
            return False
        cut = d.cut
        copying = copy_start(text, self._context_keys)
        if copying is not None and copying <= cut:  # a loop inside a held copy of the extract: drop it whole
            cut = copying
        self._buf = text[:clean_cut(text, cut, self._emitted)]
        self.degenerate = d.reason
        return True

    def _stop_at(self, end: int) -> tuple[str, bool]:
        out = self._buf[self._emitted:end]
        self._buf = self._buf[:end]
        self._emitted = end
        self.stopped = True
        return out, True

    def flush(self) -> str:
        """At the end of the stream: the held-back tail turned out not to be a stop string."""
        if self.stopped:
            return ""
        out, self._emitted = self._buf[self._emitted:], len(self._buf)
        return out

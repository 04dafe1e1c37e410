"""Stop strings over a text stream, shared by the streaming backends (pure Python, no torch).

A stop string and everything after it is never shown. A stream arrives in pieces, so the end of
the text seen so far may be the start of a stop string ("<|im" before "_end|>"): that tail is held
back until the next piece decides it, and never yielded half-way.
"""
from __future__ import annotations


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

    def __init__(self, stops: tuple[str, ...] | list[str] = ()) -> None:
        self.stops = tuple(s for s in stops if s)
        self._buf = ""
        self._emitted = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything handed out so far (feed results plus flush)."""
        return self._buf[: self._emitted]

    def feed(self, piece: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        self._buf += piece
        if not self.stops:
            out, self._emitted = self._buf[self._emitted:], len(self._buf)
            return out, False
        # Text before _emitted was checked already and cannot start a stop string that runs on
        # (the held-back tail is the longest such start), so searching from _emitted is enough.
        hit = find_stop(self._buf, self.stops, self._emitted)
        if hit != -1:
            out = self._buf[self._emitted:hit]
            self._buf = self._buf[:hit]
            self._emitted = hit
            self.stopped = True
            return out, True
        safe_end = len(self._buf) - partial_stop_len(self._buf[self._emitted:], self.stops)
        out, self._emitted = self._buf[self._emitted:safe_end], safe_end
        return out, False

    def flush(self) -> str:
        """At the end of the stream: the held-back tail turned out not to be a stop string."""
        if self.stopped:
            return ""
        out, self._emitted = self._buf[self._emitted:], len(self._buf)
        return out

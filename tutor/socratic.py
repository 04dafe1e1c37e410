"""Socratic turns: the hint's course extract, and the check of the learner's attempt against the course.

A hint names the concept (the section the course explains it in) and quotes the course's rule without
its worked result (tutor/keypoint.py is_worked_result: numbers computed, examples), so the learner gets
what to use, not what to write down. After the learner's attempt, the tutor first checks it against the
reference (the course extract for the original problem): which of the course's key terms the attempt
uses and which it leaves out, and whether a number it gives appears in the course's worked text; then it
explains. The check is extractive, so it never claims more than the course text supports.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from tutor.keypoint import KeyPoint
from tutor.retrieval.bm25 import tokenize
from tutor.types import Message

HINT_LABEL = "**A course idea to use"
CHECK_LABEL = "**Checking your attempt against the course"
KEY_TERMS = 4  # the reference's most distinctive words the check looks for
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def problem_of(history: Sequence[Message]) -> str | None:
    """The learner's problem a Socratic follow-up is about: their message before the tutor's last reply."""
    last_reply = max((k for k, m in enumerate(history) if m.role == "assistant"), default=None)
    if last_reply is None:
        return None
    asked = [m.content for m in history[:last_reply] if m.role == "user" and m.content.strip()]
    return asked[-1] if asked else None


def hint_markdown(key: KeyPoint, topic: str) -> str:
    return f"{HINT_LABEL} — *{topic}* [{key.source_index}]:** {key.text}\n\n"


@dataclass(frozen=True)
class AttemptCheck:
    source_index: int
    used: tuple[str, ...]  # the reference's key terms the attempt uses
    missing: tuple[str, ...]  # ... and those it leaves out
    numbers_found: tuple[str, ...]  # numbers of the attempt that the reference also states
    numbers_other: tuple[str, ...]  # numbers of the attempt the reference does not state

    def markdown(self) -> str:
        parts = []
        if self.used:
            parts.append("you use " + _listed(self.used))
        if self.missing:
            verb = "also relies on" if self.used else "relies on"
            parts.append(f"the course's explanation {verb} " + _listed(self.missing))
        if self.numbers_found:
            parts.append("your " + _listed(self.numbers_found, "") + " also appears in the course text")
        if self.numbers_other:
            parts.append("check your " + _listed(self.numbers_other, "") + " with the steps below")
        if not parts:
            parts.append("your attempt shares no key terms with the course text yet")
        return f"{CHECK_LABEL} [{self.source_index}]:** " + "; ".join(parts) + ".\n\n"


def _listed(items: Sequence[str], mark: str = "*") -> str:
    shown = [f"{mark}{x}{mark}" for x in items]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def check_attempt(attempt: str, reference: KeyPoint, idf: Callable[[str], float]) -> AttemptCheck:
    """Compare the learner's attempt with the course reference (key terms by IDF, then numbers)."""
    ref_words = list(dict.fromkeys(w for w in tokenize(reference.text) if not w.isdigit()))
    key = sorted(ref_words, key=lambda w: -idf(w))[:KEY_TERMS]
    have = set(tokenize(attempt))
    ref_numbers = set(_NUMBER.findall(reference.text))
    nums = list(dict.fromkeys(_NUMBER.findall(attempt)))
    return AttemptCheck(
        reference.source_index,
        tuple(w for w in key if w in have), tuple(w for w in key if w not in have),
        tuple(n for n in nums if n in ref_numbers), tuple(n for n in nums if n not in ref_numbers),
    )

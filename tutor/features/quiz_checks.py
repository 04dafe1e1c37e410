"""The checks every quiz item passes before a learner sees it, and the text helpers they share.

Pure functions over strings and chunks (no model, no database), so each rule is unit-tested on its
own. `check_item` returns the names of the failed checks; an empty tuple means deliverable:
- one_correct: exactly one option is the answer, and no distractor is also true in the source;
- distinct_options: no duplicate (or contained) options;
- new_question: not asked in this quiz nor in the learner's recent quizzes;
- supported: the answer (or the true statement) is in the source chunk's own text;
- no_giveaway: the question does not contain its answer;
- cited: the item keeps a source chunk id.
"""
from __future__ import annotations

import re
from typing import Iterable

from tutor.features.schemas import QuizItem
from tutor.retrieval.bm25 import STOPWORDS

BLANK = "_____"
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*[A-Za-z]|[A-Za-z]")
_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: the form every comparison uses."""
    return _SPACE.sub(" ", re.sub(r"[^\w]+", " ", text.lower())).strip()


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word, case- and punctuation-insensitive containment."""
    p = norm(phrase)
    return bool(p) and f" {p} " in f" {norm(text)} "


def content_words(text: str) -> set[str]:
    return {w for w in norm(text).split() if w not in STOPWORDS and len(w) > 2}


def cloze(sentence: str, term: str) -> str:
    """The sentence with the first whole-word occurrence of `term` blanked out."""
    pattern = re.compile(r"(?<![\w])" + re.escape(term) + r"(?![\w])", re.IGNORECASE)
    return pattern.sub(BLANK, sentence, count=1)


def _options_distinct(options: Iterable[str]) -> bool:
    normed = [norm(o) for o in options]
    if len(set(normed)) != len(normed) or any(not o for o in normed):
        return False
    for i, a in enumerate(normed):
        for j, b in enumerate(normed):
            if i != j and f" {a} " in f" {b} ":  # "gradient" inside "gradient descent": a hint, not a choice
                return False
    return True


def check_item(item: QuizItem, chunk_text: str, seen_questions: set[str]) -> tuple[str, ...]:
    failed: list[str] = []
    if not item.chunk_id:
        failed.append("cited")
    if norm(item.question) in seen_questions:
        failed.append("new_question")
    if item.kind == "mcq":
        if sum(norm(o) == norm(item.answer) for o in item.options) != 1 or len(item.options) < 3:
            failed.append("one_correct")
        elif any(contains_phrase(item.source_quote, o) for o in item.options if norm(o) != norm(item.answer)):
            failed.append("one_correct")  # a distractor that is also in the true sentence is also right
        if not _options_distinct(item.options):
            failed.append("distinct_options")
    elif item.kind == "true_false":
        if tuple(item.options) != ("True", "False") or item.answer not in item.options:
            failed.append("one_correct")
    if item.kind == "true_false":
        statement = item.question.split(":", 1)[-1]
        in_source = contains_phrase(chunk_text, statement)
        quote_ok = contains_phrase(chunk_text, item.source_quote)
        # True items state a sentence of the chunk; false ones alter one, so they must not be in it.
        if not quote_ok or in_source != (item.answer == "True"):
            failed.append("supported")
    else:
        if not (contains_phrase(chunk_text, item.answer) and contains_phrase(chunk_text, item.source_quote)
                and contains_phrase(item.source_quote, item.answer)):
            failed.append("supported")
        if contains_phrase(item.question, item.answer):
            failed.append("no_giveaway")
    return tuple(failed)


def model_question_ok(question: str, answer: str, sentence: str) -> str | None:
    """Extra checks for a question the model phrased: None when usable, else why not."""
    q = question.strip()
    if len(q) < 10 or not q.endswith("?"):
        return "not a question"
    if contains_phrase(q, answer) or (content_words(answer) and content_words(answer) <= content_words(q)):
        return "gives the answer away"
    about = content_words(sentence) - content_words(answer)
    # Half of the fact's other content words (2 to 4 of them): a question that shares only the
    # topic name ("How many times can binary search be repeated?") asks something else.
    need = min(4, max(2, -(-len(about) // 2)))
    if len(content_words(q) & about) < need:
        return "not about the source sentence"
    return None

"""Quiz items built from one chunk: multiple choice, true/false and short answer, plus the request
that asks the model to phrase a multiple-choice question.

The fact, the correct answer and the distractors come from the course text itself (quiz_terms.py,
quiz_distractors.py); true/false statements are the chunk's sentence or that sentence with its term
swapped. The model only phrases multiple-choice questions, inside a JSON schema (QUESTION_SCHEMA).
"""
from __future__ import annotations

import random

from tutor.errors import InputError
from tutor.features import quiz_checks as checks
from tutor.features.quiz_distractors import ConceptPool, distractors
from tutor.features.quiz_terms import Candidate
from tutor.features.schemas import QUIZ_KINDS, QUESTION_SCHEMA, QuizItem, item_id_for
from tutor.types import Chunk, GenerationParams, GenerationRequest, Message

QUESTION_MAX_TOKENS = 48  # JSON (~6 tokens) + a 120-character question (~30 tokens) with room


def _explanation(sentence: str, chunk: Chunk) -> str:
    where = f"{chunk.title} › {chunk.section}" if chunk.section else chunk.title
    return f"The course says: “{sentence}” (source: {where})"


def build_item(chunk: Chunk, cand: Candidate, kind: str, difficulty: str,
               pool: ConceptPool, rng: random.Random, question: str | None = None,
               generated_by: str = "kb") -> QuizItem | None:
    """An item of `kind` from one (sentence, term) of `chunk`; None when no distractors exist."""
    term = cand.term
    blanked = checks.cloze(cand.sentence, term)
    options: tuple[str, ...]
    if kind == "mcq":
        ds = distractors(term, chunk, pool, rng, 3, difficulty)
        if len(ds) < 3:
            return None
        opts = ds + [term]
        rng.shuffle(opts)
        options, answer = tuple(opts), term
        q = question or f"Which term completes this statement from “{chunk.title}”?\n\n{blanked}"
    elif kind == "true_false":
        options = ("True", "False")
        if rng.random() < 0.5:
            statement, answer = cand.sentence, "True"
        else:
            ds = distractors(term, chunk, pool, rng, 1, difficulty)
            if not ds:
                return None
            statement, answer = blanked.replace(checks.BLANK, ds[0], 1), "False"
            statement = statement[:1].upper() + statement[1:]
        q = f"True or false: {statement}"
    elif kind == "short_answer":
        options, answer = (), term
        q = f"Fill in the blank (from “{chunk.title}”):\n\n{blanked}"
    else:
        raise InputError(f"Unknown question type {kind!r}; choose one of: {', '.join(QUIZ_KINDS)}.")
    return QuizItem(
        item_id=item_id_for(q, answer, chunk.id), kind=kind, question=q, options=options, answer=answer,
        explanation=_explanation(cand.sentence, chunk), chunk_id=chunk.id, doc_id=chunk.doc_id,
        topic=chunk.title, section=chunk.section, subject=chunk.subject, difficulty=difficulty,
        source_quote=cand.sentence, generated_by=generated_by,
    )


def question_request(sentence: str, answer: str) -> GenerationRequest:
    # One worked example first: the 135M model follows a shown pattern far better than an instruction.
    messages = (
        Message("system", "You write one quiz question about a fact. Reply with JSON only."),
        Message("user", "Fact: Water boils at 100 degrees Celsius at sea level.\nAnswer: 100 degrees Celsius\n"
                        "Write a question whose answer is the given answer."),
        Message("assistant", '{"question":"What temperature does water boil at, at sea level?"}'),
        Message("user", f"Fact: {sentence}\nAnswer: {answer}\nWrite a question whose answer is the given answer."),
    )
    # repetition_penalty 1.0: the JSON's own quotes and braces must not be penalised.
    params = GenerationParams(max_new_tokens=QUESTION_MAX_TOKENS, temperature=0.0, repetition_penalty=1.0)
    return GenerationRequest(messages=messages, params=params, json_schema=QUESTION_SCHEMA)

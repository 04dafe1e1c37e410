"""Quiz items from bank facts (quiz_bank_facts.py), with distractors of the answer's own type, and the
order that spreads a quiz over the question kinds and the documents of a subject.

Distractors come from the other facts of the same subject with the same slot: a defined term gets
other defined terms (from the subject's other documents first: the same kind of thing, not the same
passage), a reason clause other reason clauses, a number other numbers of worked examples. Same
level first, then the same cue (connector word, unit), then a length close to the answer's, so the
right option does not stand out. None is
in the source chunk (it could be right too). A term with too few defined terms around it falls
back to the subject's concept vocabulary (quiz_distractors.py). True/false needs none.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Sequence

from tutor.features import quiz_checks as checks
from tutor.features.quiz_bank_facts import BankFact
from tutor.features.quiz_distractors import ConceptPool, distractors
from tutor.features.schemas import QuizItem, item_id_for
from tutor.types import Chunk

N_DISTRACTORS = 3
# The pipeline's difficulty words, as the app's levels.
LEVEL_OF = {"easy": "beginner", "medium": "intermediate", "hard": "advanced"}
_STEMS = {
    "term": "Which term does the course define this way{where}?",
    "why": "Which words complete this reasoning{where}?",
    "compare": "Which words complete this comparison{where}?",
    "number": "Which value completes this worked example{where}?",
    "arithmetic": "Which value completes this worked example{where}?",
    "symbolic": "Which expression completes this worked example{where}?",
}


@dataclass(frozen=True)
class FactPool:
    """The subject's facts by slot: where a fact's distractors come from."""

    by_slot: dict[str, tuple[BankFact, ...]]
    concepts: ConceptPool  # the subject's concept vocabulary, the fallback for terms


def build_fact_pool(facts: Sequence[BankFact], concepts: ConceptPool) -> FactPool:
    by_slot: dict[str, list[BankFact]] = {}
    for f in facts:
        by_slot.setdefault(f.slot, []).append(f)
    return FactPool({k: tuple(v) for k, v in by_slot.items()}, concepts)


def shape(option: str, slot: str) -> str:
    """Terms in lower case unless they are acronyms or named ("ROC-AUC", "Bayes"), clauses without their
    full stop, so no option stands out by its form."""
    option = option.strip().rstrip(".")
    if slot == "term" and option[:1].isupper() and not any(ch.isupper() for ch in option[1:]):
        return option[:1].lower() + option[1:]
    return option


def pick_distractors(fact: BankFact, chunk: Chunk, pool: FactPool, rng: random.Random,
                     difficulty: str) -> list[str]:
    """Up to N_DISTRACTORS wrong options of the fact's slot (see the module docstring)."""
    answer = shape(fact.answer, fact.slot)
    level = fact.record.difficulty
    others = [f for f in pool.by_slot.get(fact.slot, ()) if checks.norm(f.answer) != checks.norm(fact.answer)]
    rng.shuffle(others)
    want = len(answer.split())
    # Sibling documents first for terms (other concepts of the subject), then the same level, then a
    # length close to the answer's (in steps of 3 words, so the shuffle still varies the picks).
    others.sort(key=lambda f: (fact.slot == "term" and f.doc_id == fact.doc_id, f.record.difficulty != level,
                               f.cue != fact.cue, abs(len(f.answer.split()) - want) // 3))
    answer_words = checks.content_words(answer)
    picked: list[str] = []
    for f in others:
        option = shape(f.answer, fact.slot)
        if checks.contains_phrase(chunk.text, option) or checks.contains_phrase(fact.sentence, option):
            continue  # in the source: it could be right too
        if fact.slot == "term" and checks.content_words(option) & answer_words:
            continue  # "random forest" for "forest": a hint, not a choice
        if checks._options_distinct(picked + [option, answer]):
            picked.append(option)
        if len(picked) == N_DISTRACTORS:
            return picked
    if fact.slot == "term":
        extra = distractors(answer, chunk, pool.concepts, rng, N_DISTRACTORS - len(picked), difficulty)
        picked += [t for t in extra if checks._options_distinct(picked + [t, answer])]
    return picked[:N_DISTRACTORS]


def _where(chunk: Chunk, answer: str) -> str:
    """" in “Title”" unless the title names the answer (that would give it away)."""
    return "" if checks.contains_phrase(chunk.title, answer) else f" in “{chunk.title}”"


def build_bank_item(fact: BankFact, chunk: Chunk, pool: FactPool, rng: random.Random,
                    difficulty: str) -> QuizItem | None:
    """A multiple-choice item (true/false for true_false facts) from one fact; None without enough distractors."""
    if fact.slot == "tf":
        if "mistake" in chunk.section.split(">")[-1].lower():
            # A "Common mistakes" entry is a wrong practice written as a fragment ("Tuning lambda on the
            # test set, which leaks information"): "True" would read as an endorsement of it.
            return None
        kind, options, answer = "true_false", ("True", "False"), fact.answer
        question = f"True or false: {fact.prompt}"
        explanation = (f"The course says: “{fact.sentence}”" if answer == "True" else
                       f"False. The course says: “{fact.sentence}”")
    else:
        ds = pick_distractors(fact, chunk, pool, rng, difficulty)
        if len(ds) < N_DISTRACTORS:
            return None
        answer = shape(fact.answer, fact.slot)
        opts = ds + [answer]
        rng.shuffle(opts)
        kind, options = "mcq", tuple(opts)
        question = _STEMS[fact.slot].format(where=_where(chunk, answer)) + f"\n\n{fact.prompt}"
        explanation = f"The course says: “{fact.sentence}”"
    where = f"{chunk.title} › {chunk.section}" if chunk.section else chunk.title
    return QuizItem(
        item_id=item_id_for(question, answer, chunk.id), kind=kind, question=question, options=options,
        answer=answer, explanation=f"{explanation} (source: {where})", chunk_id=chunk.id, doc_id=chunk.doc_id,
        topic=chunk.title, section=chunk.section, subject=chunk.subject, difficulty=difficulty,
        source_quote=fact.sentence, generated_by=f"bank:{fact.record.generated_by or 'unknown'}",
        question_kind=fact.kind)


def spread(facts: Sequence[BankFact], difficulty: str, rng: random.Random) -> "Spread":
    """The facts shuffled, those at the quiz's level first, handed out spread over kinds and documents."""
    at_level = [f for f in facts if LEVEL_OF.get(f.record.difficulty) == difficulty]
    rest = [f for f in facts if LEVEL_OF.get(f.record.difficulty) != difficulty]
    rng.shuffle(at_level)
    rng.shuffle(rest)
    return Spread(at_level + rest)


class Spread:
    """Hands out facts one at a time: next the one whose kind and document have delivered fewest items
    so far (ties: the given order), so five items of a "mixed" quiz are five kinds over the subject's
    documents, not five of one passage. One per quiz; not shared."""

    def __init__(self, ordered: Sequence[BankFact]) -> None:
        self.remaining = list(ordered)
        self.kinds: Counter[str] = Counter()
        self.docs: Counter[str] = Counter()

    def __iter__(self) -> Iterator[BankFact]:
        while self.remaining:
            i = min(range(len(self.remaining)),
                    key=lambda k: (self.kinds[self.remaining[k].kind] + self.docs[self.remaining[k].doc_id], k))
            yield self.remaining.pop(i)

    def delivered(self, fact: BankFact) -> None:
        self.kinds[fact.kind] += 1
        self.docs[fact.doc_id] += 1

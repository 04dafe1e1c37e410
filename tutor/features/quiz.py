"""Quiz generation grounded in the knowledge base: every item is built from one indexed chunk.

Owns the flow of a quiz: bound and check the request -> pick chunks (a topic's retrieved chunks,
the subject's chunks at the chosen level, or the learner's FSRS review queue) -> build items -> run the
checks (quiz_checks.py) -> stream each passing item and store it. Answering is quiz_answer.py.

Items come first from the question bank (quiz_bank.py; the kinds definition, why, compare, apply,
true_false and "mixed"): the bank records whose source is one of the chosen chunks, parsed
(quiz_bank_facts.py) and built with distractors of the answer's type (quiz_bank_items.py), handed out
spread over the kinds and the documents. When the bank has none, or too few, the rest are built from
the course text (quiz_items.py, from quiz_terms.py and quiz_distractors.py), and the quiz says so.

Why items are built from the chunk, not written by the model: the 135M embedded model invents
wrong facts (MODELS.md). The model only phrases multiple-choice questions, inside a JSON schema
(QUESTION_SCHEMA), and its question is used only when it passes extra checks (model_question_ok);
otherwise the item keeps the cloze question built from the sentence. Each model call is recorded
in the metrics with quality 1.0 (question used) or 0.0 (fallback): their mean is the pass rate.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import time
from dataclasses import dataclass
from typing import Iterator, Sequence, Union

from tutor.backends.base import LLMBackend
from tutor.config import AppConfig
from tutor.errors import InputError, TutorError
from tutor.features import quiz_checks as checks
from tutor.features.course import ChunkSource, CourseIndex
from tutor.features.quiz_bank import QuizBank
from tutor.features.quiz_bank_facts import BankFact, parse
from tutor.features.quiz_bank_items import FactPool, build_bank_item, build_fact_pool, spread
from tutor.features.quiz_distractors import ConceptPool, build_pool
from tutor.features.quiz_items import build_item, question_request
from tutor.features.quiz_terms import Candidate, candidates_for, idf_of
from tutor.features.schemas import (DIFFICULTIES, MIXED, QUIZ_KINDS, QUESTION_SCHEMA, QuizItem,
                                    item_id_for)
from tutor.learners import LearnerStore
from tutor.retrieval import Retriever
from tutor.types import CallMeta, Chunk, Completion, RetrievedChunk

logger = logging.getLogger(__name__)

AUTO = "auto"  # difficulty that follows the learner's recent accuracy


class QuizInputError(InputError):
    """The request cannot make a quiz; `suggestions` are closest covered topics to offer instead."""

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions = tuple(suggestions)


@dataclass(frozen=True)
class QuizRequest:
    learner: str
    subject: str | None
    topic: str = ""
    difficulty: str = AUTO  # "auto" or one of DIFFICULTIES
    count: int = 5
    kind: str = "mcq"
    review: bool = False  # "review my weak spots": items from the learner's FSRS queue
    use_model: bool = True  # False: cloze questions only (no model call at all)
    seed: int | None = None  # None: a fresh selection each quiz
    # A model phrasing call starts only if it should end by this time (elapsed + the slowest call so
    # far); later items keep their cloze question, so five items stay within the 10 s target on 2 CPU
    # cores even when the model is slow.
    model_budget_s: float = 8.0


@dataclass(frozen=True)
class QuizStarted:
    quiz_id: str
    subject: str
    difficulty: str
    count: int
    notices: tuple[str, ...]


@dataclass(frozen=True)
class ItemReady:
    position: int  # 0-based
    item: QuizItem
    elapsed_s: float  # since the request started


@dataclass(frozen=True)
class QuizFinished:
    quiz_id: str
    delivered: int
    attempted: int  # items built and checked
    failed_checks: dict[str, int]  # check name -> items dropped for it
    model_calls: int
    model_passed: int
    elapsed_s: float
    notice: str | None = None  # e.g. "Only 3 questions could be made for this topic."


QuizEvent = Union[QuizStarted, ItemReady, QuizFinished]


# ---------------------------------------------------------------- request checks


def bound_count(count: object, maximum: int) -> tuple[int, str | None]:
    """The question count clamped to 1..maximum, with a sentence when it was changed."""
    try:
        n = int(count)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 5, f"“{count}” is not a number of questions; this quiz has 5."
    if n < 1:
        return 1, f"A quiz has 1 to {maximum} questions, so this one has 1."
    if n > maximum:
        return maximum, f"A quiz has 1 to {maximum} questions, so this one has {maximum}."
    return n, None


def next_difficulty(current: str, answered: int, accuracy: float) -> str:
    """Step up after >= 80% on at least 3 recent answers, down below 50%; else stay."""
    i = DIFFICULTIES.index(current) if current in DIFFICULTIES else 0
    if answered >= 3 and accuracy >= 0.8:
        i = min(i + 1, len(DIFFICULTIES) - 1)
    elif answered >= 3 and accuracy < 0.5:
        i = max(i - 1, 0)
    return DIFFICULTIES[i]


# ---------------------------------------------------------------- the quiz


class QuizMaker:
    """Makes quizzes from the course index into a LearnerStore. Holds no per-learner state."""

    def __init__(self, *, backend: LLMBackend, course: CourseIndex, retriever: Retriever, chunks: ChunkSource,
                 learners: LearnerStore, cfg: AppConfig, bank: QuizBank | None = None) -> None:
        self.backend = backend  # phrases multiple-choice questions; metered, so its calls are recorded
        self.course = course  # subjects, and the recorded coverage check of a topic
        self.retriever = retriever  # a topic's chunks, more of them than the coverage check returns
        self.chunks = chunks
        self.store = learners
        self.cfg = cfg
        self.bank = bank  # the question bank (read once at start-up); None: items from the course text only

    def kinds(self) -> tuple[str, ...]:
        """The question kinds to offer: mixed, the bank's kinds, then those built from the course text."""
        bank = self.bank.kinds() if self.bank is not None else ()
        return (MIXED, *bank, *(k for k in ("true_false", "mcq", "short_answer") if k not in bank))

    def subject_chunks(self, subject: str) -> list[Chunk]:
        chunks, _ = self.chunks.all_chunks(with_embeddings=False)
        return [c for c in chunks if c.subject == subject]

    def _resolve_subject(self, subject: str | None) -> str:
        subjects = self.course.subjects()
        if not subject or not subject.strip():
            raise QuizInputError("Please pick a subject for the quiz.", subjects)
        for s in subjects:
            if s.lower() == subject.strip().lower():
                return s
        raise QuizInputError(f"“{subject}” is not a subject of the course. Covered subjects: "
                             f"{', '.join(subjects)}.", subjects)

    def generate(self, req: QuizRequest) -> Iterator[QuizEvent]:
        """Stream QuizStarted, ItemReady per delivered item, then QuizFinished. Raises QuizInputError
        before anything is stored when the request cannot make a quiz."""
        t0 = time.perf_counter()
        notices: list[str] = []
        count, note = bound_count(req.count, self.cfg.learning.max_questions)
        if note:
            notices.append(note)
        if req.kind not in QUIZ_KINDS:
            raise QuizInputError(f"Unknown question type {req.kind!r}; choose one of: {', '.join(QUIZ_KINDS.values())}.")
        if req.review:
            yield from self._review(req, count, notices, t0)
            return
        subject = self._resolve_subject(req.subject)
        difficulty = self._difficulty(req, subject, notices)
        all_chunks = self.subject_chunks(subject)
        if not all_chunks:
            raise QuizInputError(f"The knowledge base has no documents for {subject} yet.", self.course.subjects())
        rng = random.Random(req.seed)
        topic = (req.topic or "").strip()
        ordered = self._topic_chunks(req.learner, topic, subject, count, all_chunks) if topic else \
            _level_first(all_chunks, difficulty, rng)
        facts, bank_note = self._bank_facts(req.kind, ordered, topic or subject)
        if bank_note:
            notices.append(bank_note)
        quiz_id = self.store.create_quiz(req.learner, subject, topic, difficulty, req.kind)
        yield QuizStarted(quiz_id, subject, difficulty, count, tuple(notices))
        stats = _Stats()
        concepts = build_pool(all_chunks)
        # What the course-text generator makes when the bank cannot: true/false stays true/false, the
        # bank's other kinds become key-term questions.
        text_req = req if req.kind in ("mcq", "true_false", "short_answer") else dataclasses.replace(req, kind="mcq")
        plan = _Plan(quiz_id, text_req, difficulty, count, idf_of(all_chunks), concepts, rng, t0)
        if facts:
            pool = build_fact_pool(self._subject_facts(all_chunks), concepts)
            yield from self._bank_items(plan, facts, pool, {c.id: c for c in all_chunks}, stats)
        from_bank = stats.delivered
        yield from self._items(plan, ordered, stats)  # tops the quiz up when the bank had too few
        notice = None
        if facts and stats.delivered > from_bank:
            notice = (f"The question bank had {from_bank} usable question(s) for this choice; "
                      f"{stats.delivered - from_bank} more were built from the course text.")
            logger.info("quiz %s: %s", quiz_id, notice)
        if stats.delivered < count:
            notice = (f"Only {stats.delivered} new question(s) could be made from the course material for this "
                      "choice; try another topic or difficulty." if stats.delivered else
                      "No new questions could be made for this choice (you may have seen them all recently); "
                      "try another topic or difficulty.")
        yield QuizFinished(quiz_id, stats.delivered, stats.attempted, dict(stats.failed), stats.model_calls,
                           stats.model_passed, time.perf_counter() - t0, notice)

    # ---------------------------------------------------------------- items from the question bank

    def _bank_facts(self, kind: str, chunks: Sequence[Chunk], where: str) -> tuple[list[BankFact], str | None]:
        """The bank's parsed facts of `kind` ("mixed": every bank kind) whose source is one of `chunks`, and
        a sentence for the learner when the bank has none (the quiz then uses the course text)."""
        if kind not in QUIZ_KINDS or kind in ("mcq", "short_answer"):
            return [], None  # built from the course text by design
        bank_kinds = self.bank.kinds() if self.bank is not None else ()
        kinds = set(bank_kinds) if kind == MIXED else {kind}
        records = [r for r in self.bank.for_chunks(c.id for c in chunks) if r.kind in kinds] if self.bank else []
        facts = [f for f in map(parse, records) if f is not None]
        if facts:
            return facts, None
        if self.bank is None or not self.bank.records:
            why = "The question bank is not available"
        else:
            why = f"The question bank has no {QUIZ_KINDS[kind].lower()} questions for {where}"
        note = f"{why}; these questions are built from the course text instead."
        logger.info("quiz: %s (bank: %s)", note, self.bank.path if self.bank is not None else "none configured")
        return [], note

    def _subject_facts(self, chunks: Sequence[Chunk]) -> list[BankFact]:
        """Every parsed fact of the subject, all kinds: where distractors of the answer's type come from."""
        assert self.bank is not None
        return [f for f in map(parse, self.bank.for_chunks(c.id for c in chunks)) if f is not None]

    def _bank_items(self, plan: "_Plan", facts: Sequence[BankFact], pool: FactPool, chunk_of: dict[str, Chunk],
                    stats: "_Stats") -> Iterator[ItemReady]:
        """Build, check and store bank items, spread over kinds and documents, until the count is reached."""
        seen = {checks.norm(q) for q in self.store.recent_questions(plan.req.learner, self.cfg.learning.recent_quizzes)}
        used: set[str] = set()  # answers and source sentences: two items on one fact would hint at each other
        order = spread(facts, plan.difficulty, plan.rng)
        for fact in order:
            if stats.delivered >= plan.count:
                break
            keys = {checks.norm(fact.sentence)} | ({checks.norm(fact.answer)} if fact.slot != "tf" else set())
            if keys & used:
                continue
            chunk = chunk_of[fact.record.chunk_id]
            item = build_bank_item(fact, chunk, pool, plan.rng, plan.difficulty)
            stats.attempted += 1
            failed = ("distractors",) if item is None else checks.check_item(item, chunk.text, seen)
            if failed or item is None:
                for f in failed:
                    stats.failed[f] = stats.failed.get(f, 0) + 1
                continue
            self.store.add_item(plan.quiz_id, item)
            seen.add(checks.norm(item.question))
            used |= keys
            order.delivered(fact)
            yield ItemReady(stats.delivered, item, time.perf_counter() - plan.t0)
            stats.delivered += 1

    def _difficulty(self, req: QuizRequest, subject: str, notices: list[str]) -> str:
        """The requested difficulty, or for "auto" the one the learner's recent accuracy calls for."""
        if req.difficulty == AUTO:
            n, acc = self.store.recent_accuracy(req.learner, subject, self.cfg.learning.adaptive_window)
            last = self._last_difficulty(req.learner, subject)
            difficulty = next_difficulty(last, n, acc) if n else "beginner"
            notices.append(f"Difficulty: {difficulty}" + (f" (your last {n} answers in {subject}: {acc:.0%} correct)."
                                                          if n else " (your first quiz in this subject)."))
            return difficulty
        if req.difficulty not in DIFFICULTIES:
            raise QuizInputError(f"Difficulty must be one of: {', '.join(DIFFICULTIES)} or auto.")
        return req.difficulty

    def _topic_chunks(self, learner: str, topic: str, subject: str, count: int,
                      all_chunks: Sequence[Chunk]) -> list[Chunk]:
        """The subject's chunks about `topic`, best first; QuizInputError when the course does not cover it."""
        result = self.course.retrieve(topic, subject, learner)
        if not result.covered or not result.hits:
            near = _closest_topics(result.hits) or sorted({c.title for c in all_chunks})[:3]
            raise QuizInputError(f"The course documents do not cover “{topic}”. Closest covered topics: "
                                 f"{'; '.join(near)}.", near)
        wanted = self.retriever.search(topic, k=min(50, max(3 * count, 10)), subject=subject)
        floor = self.cfg.retrieval.relevance_floor
        ordered = [h.chunk for h in wanted.hits if (h.dense_similarity or 0) >= floor]
        return ordered or [h.chunk for h in result.hits]

    def _items(self, plan: "_Plan", ordered: Sequence[Chunk], stats: "_Stats") -> Iterator[ItemReady]:
        """Build, check, phrase and store items, one per chunk in order, until the count is reached."""
        req = plan.req
        seen = {checks.norm(q) for q in self.store.recent_questions(req.learner, self.cfg.learning.recent_quizzes)}
        used_answers: set[str] = set()
        use_model = req.use_model and req.kind == "mcq"
        slowest = 0.0
        for chunk in ordered:
            if stats.delivered >= plan.count:
                break
            for cand in candidates_for(chunk, plan.idf, plan.pool.vocab)[:4]:
                if checks.norm(cand.term) in used_answers:
                    continue  # two items with one answer would hint at each other
                item = build_item(chunk, cand, req.kind, plan.difficulty, plan.pool, plan.rng)
                if item is None:
                    continue
                stats.attempted += 1
                # The item built from the chunk is checked first: no model call is spent on an item
                # that would be dropped anyway, and it is the fallback if the model's phrasing fails.
                failed = checks.check_item(item, chunk.text, seen)
                if failed:
                    for f in failed:
                        stats.failed[f] = stats.failed.get(f, 0) + 1
                    continue
                if use_model and time.perf_counter() - plan.t0 + slowest < req.model_budget_s:
                    t_call = time.perf_counter()
                    item, use_model = self._phrase(item, cand, chunk.text, seen, req.learner, stats)
                    slowest = max(slowest, time.perf_counter() - t_call)
                self.store.add_item(plan.quiz_id, item)
                seen.add(checks.norm(item.question))
                used_answers.add(checks.norm(cand.term))
                yield ItemReady(stats.delivered, item, time.perf_counter() - plan.t0)
                stats.delivered += 1
                break  # one item per chunk: spread the quiz over the material

    def _phrase(self, item: QuizItem, cand: Candidate, chunk_text: str, seen: set[str], learner: str,
                stats: "_Stats") -> tuple[QuizItem, bool]:
        """(item, keep using the model): the model's question when it passes every check, else the
        cloze item unchanged. False when the backend cannot do constrained decoding at all."""
        from tutor.backends.base import generate
        from tutor.backends.json_schema import parse

        checked: dict[str, tuple[QuizItem, str, str | None]] = {}

        def judge(text: str) -> float:
            value, why = parse(text, QUESTION_SCHEMA)
            question = value["question"].strip() if value else ""
            why = why or checks.model_question_ok(question, cand.term, cand.sentence)
            phrased = item
            if not why:
                q = f"{question}\n\n(from “{item.topic}”)"
                phrased = dataclasses.replace(item, question=q, item_id=item_id_for(q, item.answer, item.chunk_id),
                                              generated_by="model")
                failed = checks.check_item(phrased, chunk_text, seen)
                why = f"failed {', '.join(failed)}" if failed else None
            checked["item"] = (phrased, question, why)
            # quality 1.0 = the model's question reached the learner; the mean over calls is the pass rate
            return 0.0 if why else 1.0

        request = dataclasses.replace(question_request(cand.sentence, cand.term), meta=CallMeta("quiz", learner, judge))
        try:
            completion: Completion = generate(self.backend, request)
        except TutorError as e:
            # e.g. a backend without constrained decoding: the quiz goes on with cloze questions.
            logger.warning("quiz question phrasing unavailable, using cloze questions: %s", e)
            return item, False
        stats.model_calls += 1
        if "item" not in checked:
            judge(completion.text)
        phrased, question, why = checked["item"]
        if why:
            logger.debug("model question rejected (%s): %r", why, question)
            return item, True
        stats.model_passed += 1
        return phrased, True

    def _review(self, req: QuizRequest, count: int, notices: list[str], t0: float) -> Iterator[QuizEvent]:
        cards = self.store.due_reviews(req.learner, limit=count)
        if not cards:
            cards = self.store.weak_cards(req.learner, limit=count)
            if cards:
                notices.append("Nothing is due for review yet; here are your weakest questions anyway.")
        if not cards:
            raise QuizInputError("You have no missed questions to review yet. Take a quiz first: questions you "
                                 "miss come back here on a spaced-repetition schedule.")
        subject = cards[0].item.subject if len({c.item.subject for c in cards}) == 1 else "Mixed"
        quiz_id = self.store.create_quiz(req.learner, subject, "review", "review", "review")
        yield QuizStarted(quiz_id, subject, "review", len(cards), tuple(notices))
        for i, card in enumerate(cards):
            self.store.add_item(quiz_id, card.item)
            yield ItemReady(i, card.item, time.perf_counter() - t0)
        yield QuizFinished(quiz_id, len(cards), len(cards), {}, 0, 0, time.perf_counter() - t0)

    def _last_difficulty(self, learner: str, subject: str) -> str:
        answers = self.store.answers(learner)
        for a in reversed(answers):
            if a.subject == subject and a.difficulty in DIFFICULTIES:
                return a.difficulty
        return "beginner"


@dataclass
class _Stats:
    attempted: int = 0
    delivered: int = 0
    model_calls: int = 0
    model_passed: int = 0

    def __post_init__(self) -> None:
        self.failed: dict[str, int] = {}


@dataclass(frozen=True)
class _Plan:
    """What one quiz's item loop works from."""

    quiz_id: str
    req: QuizRequest
    difficulty: str
    count: int
    idf: dict[str, float]
    pool: ConceptPool
    rng: random.Random
    t0: float  # perf_counter at the request's start


def _level_first(chunks: Sequence[Chunk], difficulty: str, rng: random.Random) -> list[Chunk]:
    """The subject's chunks at the quiz's level first, each group shuffled."""
    at_level = [c for c in chunks if c.level == difficulty]
    rest = [c for c in chunks if c.level != difficulty]
    rng.shuffle(at_level)
    rng.shuffle(rest)
    return at_level + rest


def _closest_topics(hits: Sequence[RetrievedChunk]) -> list[str]:
    out: list[str] = []
    for h in hits:
        last = h.chunk.section.split(">")[-1].strip()
        label = f"{h.chunk.title} › {last}" if last and last != h.chunk.title else h.chunk.title
        if label not in out:
            out.append(label)
    return out[:3]

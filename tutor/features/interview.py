"""The interview coach: sessions of held-out bank questions, rubric scores, follow-ups, summaries.

Owns the flow of one mock interview, as pure logic over the core API (no gradio):

1. ``start``: pick questions from the bank's held-out TEST split (never trained on) for a track,
   topic, difficulty and length; unseen questions first; ordered beginner -> advanced.
2. ``answer``: score the answer 0-10 on the question's rubric key points (tutor/features/rubric.py).
   When a real answer misses points, ask one templated follow-up about them; what the follow-up
   recovers earns half credit (prompted recall is worth less than unprompted). When the question
   is done: feedback, the bank's reference answer, and a generated model answer (the "interview"
   LoRA adapter when the backend has it, else the base model, with a note saying so).
3. ``summary``: per-topic scores, the weakest topics, and knowledge-base reading for them
   (retrieved from the indexed course documents, so every link is a real document).

Per-user state lives in the immutable InterviewSession the caller keeps (gr.State) and in the
InterviewStore (SQLite); the coach itself holds only shared, read-only things (bank, store).
"""
from __future__ import annotations

import dataclasses
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence

from tutor.backends.base import generate
from tutor.errors import InputError, TutorError
from tutor.features.interview_bank import (
    DIFFICULTIES,
    TOPIC_SUBJECTS,
    TOPICS,
    Bank,
    InterviewQuestion,
    interview_messages,  # the same prompt the interview adapter is trained on
    load_bank,
    resolve_bank_dir,
)
from tutor.features.interview_store import InterviewStore, InterviewStoreError, TopicHistory
from tutor.features.rubric import (EmbedFn, RubricScore, content_stems, says_the_reference, score_answer, unscorable,
                                   words)
from tutor.metrics import Interaction
from tutor.types import CallMeta, GenerationParams, GenerationRequest

if TYPE_CHECKING:
    from tutor.backends.base import LLMBackend
    from tutor.config import GenerationConfig
    from tutor.metrics import MetricsStore
    from tutor.service import Tutor

logger = logging.getLogger(__name__)

INTERVIEW_ADAPTER = "interview"  # adapters/interview, trained by `python -m training` (issue 5)
ANY = "Any"
MAX_QUESTIONS = 10
FOLLOW_UP_CREDIT = 0.5  # share of a point's value earned when it is only given after the follow-up
WEAK_BELOW = 7.0  # a topic averaging under this (of 10) is a weak topic
MAX_WEAK_TOPICS = 2
READING_PER_TOPIC = 2
MODEL_ANSWER_TOKENS = 200  # reference answers are 60-160 words
MODEL_ANSWER_MISMATCH = "The model's own answer did not match the reference, so here is the reference."

# Tracks group the bank's topics the way job ads do.
TRACKS: dict[str, tuple[str, ...]] = {
    "All topics": TOPICS,
    "ML engineer": ("ML fundamentals", "MLOps", "ML system design", "Python"),
    "Data scientist": ("Statistics", "ML fundamentals", "Python"),
    "Deep learning & NLP": ("Deep learning", "NLP", "ML fundamentals"),
}

# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class InterviewSettings:
    track: str = "All topics"
    topic: str | None = None  # None = any topic of the track
    difficulty: str | None = None  # None = any
    num_questions: int = 5


@dataclass(frozen=True)
class Prompt:
    number: int  # 1-based question number
    total: int
    kind: Literal["question", "follow-up"]
    text: str
    topic: str
    difficulty: str


@dataclass(frozen=True)
class FollowUp:
    text: str
    missed: tuple[str, ...]  # the points still open after the main answer
    main: RubricScore
    main_answer: str


@dataclass(frozen=True)
class ModelAnswer:
    reference: str  # the bank's reference answer (always there)
    generated: str | None  # the model's own answer, when it could be generated
    adapter: str | None  # the adapter that generated it; None = the base model
    generated_coverage: float | None  # key-point coverage of the generated answer (rubric)
    note: str  # e.g. "the interview adapter is not installed: base model"
    matches_reference: bool = False  # the generated answer passed the rubric against the reference: show it


@dataclass(frozen=True)
class QuestionResult:
    question: InterviewQuestion
    score: float  # 0-10, follow-up credit included
    covered: tuple[str, ...]
    missed: tuple[str, ...]
    answer: str
    follow_up: str | None  # the follow-up asked, if any
    follow_up_answer: str | None


@dataclass(frozen=True)
class AnswerFeedback:
    kind: Literal["question", "follow-up"]
    rubric: RubricScore  # of this answer alone
    question_done: bool  # False: a follow-up is asked next (missed points and model answer come after it)
    follow_up: str | None
    result: QuestionResult | None  # when question_done
    model_answer: ModelAnswer | None  # when question_done
    feedback: str
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class InterviewSession:
    user: str
    settings: InterviewSettings
    questions: tuple[InterviewQuestion, ...]
    session_id: int | None = None  # row in the history store; None when it could not be saved
    index: int = 0
    follow_up: FollowUp | None = None
    results: tuple[QuestionResult, ...] = ()
    notes: tuple[str, ...] = ()  # how the selection was relaxed, storage problems
    started_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.index >= len(self.questions)

    @property
    def current(self) -> InterviewQuestion | None:
        return None if self.finished else self.questions[self.index]

    def prompt(self) -> Prompt | None:
        q = self.current
        if q is None:
            return None
        if self.follow_up is not None:
            return Prompt(self.index + 1, len(self.questions), "follow-up", self.follow_up.text, q.topic, q.difficulty)
        return Prompt(self.index + 1, len(self.questions), "question", q.question, q.topic, q.difficulty)


@dataclass(frozen=True)
class TopicScore:
    topic: str
    mean_score: float
    questions: int


@dataclass(frozen=True)
class Reading:
    topic: str
    title: str
    doc_id: str
    section: str
    subject: str
    snippet: str


@dataclass(frozen=True)
class SessionSummary:
    overall: float  # mean question score, 0-10
    per_topic: tuple[TopicScore, ...]  # weakest first
    weakest: tuple[str, ...]
    reading: tuple[Reading, ...]
    results: tuple[QuestionResult, ...]
    notices: tuple[str, ...] = ()


# ---------------------------------------------------------------- pure helpers


def question_score(n_points: int, covered_main: int, covered_follow_up: int) -> float:
    if n_points <= 0:
        return 0.0
    return round(10.0 * (covered_main + FOLLOW_UP_CREDIT * covered_follow_up) / n_points, 1)


# Words that say how much, not what: poor cues for "what about X?".
_CUE_SKIP = frozenset("means mean high low large small good bad better worse lower higher raise raises lower lowers "
                      "still often usually always never common chosen true false important key main".split())


def follow_up_text(question: InterviewQuestion, missed: Sequence[str], answer: str) -> str:
    """A follow-up that names the area of the first missed point without stating it: up to three of
    its longest content words that neither the question nor the answer used (an interviewer's
    "and what about X?"), in the point's own order."""
    point = missed[0]
    seen = content_stems(question.question) | content_stems(answer)
    candidates: list[str] = []
    for w in words(point):
        stems = content_stems(w)
        if not stems or w.lower() in _CUE_SKIP or any(c.lower() == w.lower() for c in candidates):
            continue
        if not stems & seen:
            candidates.append(w)
    if not candidates:  # every word was already said: cue with the point's longest words anyway
        candidates = [w for w in words(point) if content_stems(w) and w.lower() not in _CUE_SKIP]
    keep = set(sorted(candidates, key=len, reverse=True)[:3])
    cues = [w if w.isupper() else w.lower() for w in candidates if w in keep]
    if not cues:
        return f"Follow-up: what else would you add to your answer to \u201c{question.question}\u201d?"
    cue = cues[0] if len(cues) == 1 else ", ".join(cues[:-1]) + " and " + cues[-1]
    return (f"Follow-up: your answer left out part of what an interviewer looks for. "
            f"What can you tell me about {cue} here?")


def select_questions(bank: Bank, settings: InterviewSettings, rng: random.Random,
                     seen_ids: frozenset[str] = frozenset()) -> tuple[tuple[InterviewQuestion, ...], tuple[str, ...]]:
    """Questions for a session from the TEST split, and notes on any relaxed filter.

    Raises InputError when the settings are invalid or nothing matches at all."""
    if settings.track not in TRACKS:
        raise InputError(f"Unknown track {settings.track!r}; choose one of: {', '.join(TRACKS)}.")
    if settings.topic is not None and settings.topic not in TOPICS:
        raise InputError(f"Unknown topic {settings.topic!r}.")
    if settings.difficulty is not None and settings.difficulty not in DIFFICULTIES:
        raise InputError(f"Unknown difficulty {settings.difficulty!r}; choose {', '.join(DIFFICULTIES)}.")
    n = settings.num_questions
    if not isinstance(n, int) or not 1 <= n <= MAX_QUESTIONS:
        raise InputError(f"Choose between 1 and {MAX_QUESTIONS} questions.")
    topics = (settings.topic,) if settings.topic else TRACKS[settings.track]
    pool = [q for q in bank.split("test") if q.topic in topics]
    what = settings.topic or f"the {settings.track} track"
    if not pool:
        raise InputError(f"The question bank has no held-out questions for {what} yet.")
    notes: list[str] = []
    exact = [q for q in pool if settings.difficulty in (None, q.difficulty)]
    chosen = _pick(exact, n, rng, seen_ids)
    if len(chosen) < n and settings.difficulty is not None:
        others = [q for q in pool if q.difficulty != settings.difficulty]
        extra = _pick(others, n - len(chosen), rng, seen_ids)
        if extra:
            notes.append(f"Only {len(chosen)} held-out {settings.difficulty} question(s) for {what}; "
                         f"{len(extra)} more at other levels.")
        chosen += extra
    if len(chosen) < n:
        notes.append(f"Only {len(chosen)} held-out question(s) match, so this interview has {len(chosen)}.")
    order = {d: i for i, d in enumerate(DIFFICULTIES)}
    chosen.sort(key=lambda q: order.get(q.difficulty, 0))  # stable: keeps the topic mix within a level
    return tuple(chosen), tuple(notes)


def _pick(candidates: Sequence[InterviewQuestion], n: int, rng: random.Random,
          seen_ids: frozenset[str]) -> list[InterviewQuestion]:
    """n questions, unseen ones first, spread over topics round-robin."""
    fresh = [q for q in candidates if q.id not in seen_ids]
    old = [q for q in candidates if q.id in seen_ids]
    out: list[InterviewQuestion] = []
    for group in (fresh, old):
        by_topic: dict[str, list[InterviewQuestion]] = {}
        for q in group:
            by_topic.setdefault(q.topic, []).append(q)
        for qs in by_topic.values():
            rng.shuffle(qs)
        topic_order = list(by_topic)
        rng.shuffle(topic_order)
        while len(out) < n and any(by_topic.values()):
            for t in topic_order:
                if by_topic[t] and len(out) < n:
                    out.append(by_topic[t].pop())
    return out


# ---------------------------------------------------------------- the coach


class InterviewCoach:
    """Shared by every user: the bank and the store, no per-user state. Built by tutor/services.py with the
    tutor's course API (reading suggestions), the metered backend (model answers) and the metrics store."""

    def __init__(self, tutor: Tutor, bank: Bank, store: InterviewStore, *, backend: LLMBackend,
                 generation: GenerationConfig, metrics: MetricsStore, embed: EmbedFn | None = None) -> None:
        self.tutor = tutor
        self.bank = bank
        self.store = store
        self.backend = backend
        self.generation = generation
        self.metrics = metrics
        self.embed = embed

    # ------------------------------------------------------------ choices

    def topics(self, track: str) -> tuple[str, ...]:
        present = set(self.bank.topics())
        return tuple(t for t in TRACKS.get(track, ()) if t in present)

    # ------------------------------------------------------------ session flow

    def start(self, user: str, settings: InterviewSettings, seed: int | None = None) -> InterviewSession:
        if not self.bank.questions:
            why = self.bank.problems[0].message if self.bank.problems else "it is empty"
            raise InputError(f"The interview question bank could not be loaded: {why}.")
        notes: list[str] = []
        try:
            seen = frozenset(a.question_id for a in self.store.answers(user, limit=1000))
        except InterviewStoreError as e:
            seen = frozenset()
            notes.append(str(e))
        rng = random.Random(seed if seed is not None else time.time_ns())
        questions, select_notes = select_questions(self.bank, settings, rng, seen)
        notes[:0] = select_notes
        started = time.time()
        session_id = None
        try:
            session_id = self.store.start_session(user, settings.track, settings.topic, settings.difficulty,
                                                  len(questions), started)
        except InterviewStoreError as e:
            notes.append(f"{e} This interview still runs, but it will not appear in your history.")
        return InterviewSession(user=user, settings=settings, questions=questions, session_id=session_id,
                                notes=tuple(notes), started_at=started)

    def answer(self, session: InterviewSession, text: str, *,
               model_answer: bool = True) -> tuple[InterviewSession, AnswerFeedback]:
        """Score an answer to the current prompt; returns the advanced session and the feedback."""
        q = session.current
        if q is None:
            raise InputError("This interview is over: start a new one.")
        text = (text or "").strip()
        notices: list[str] = []
        fu = session.follow_up
        if fu is None:
            rub = score_answer(text, q.key_points, self.embed, question=q.question, reference=q.answer)
            kind: Literal["question", "follow-up"] = "question"
            if rub.missed and unscorable(text) is None:
                follow = FollowUp(follow_up_text(q, rub.missed, text), rub.missed, rub, text)
                self._save(session, q, kind, q.question, text, rub, rub.score, notices)
                feedback = (f"You covered {len(rub.covered)} of {len(q.key_points)} key points: "
                            f"{rub.score:g}/10 so far. One follow-up before the model answer.")
                new = dataclasses.replace(session, follow_up=follow)
                return new, AnswerFeedback(kind, rub, False, follow.text, None, None, feedback, tuple(notices))
            result = QuestionResult(q, rub.score, rub.covered, rub.missed, text, None, None)
            feedback = rub.feedback
        else:
            kind = "follow-up"
            # Repeating the follow-up's cue words is not an answer either.
            rub = score_answer(text, fu.missed, self.embed, question=f"{q.question} {fu.text}", reference=q.answer)
            # Never under the main answer's own score (which holds partial credit the point counts do not).
            score = max(fu.main.score, question_score(len(q.key_points), len(fu.main.covered), len(rub.covered)))
            got = set(fu.main.covered) | set(rub.covered)
            covered = tuple(p for p in q.key_points if p in got)
            missed = tuple(p for p in q.key_points if p not in got)
            result = QuestionResult(q, score, covered, missed, fu.main_answer, fu.text, text)
            if rub.covered:
                feedback = (f"The follow-up added {len(rub.covered)} of {len(fu.missed)} missing point(s), at "
                            f"half credit: {score:g}/10 for this question.")
            else:
                feedback = f"The follow-up added no missing point: {score:g}/10 for this question."
            if missed:
                feedback += " Still missing: " + "; ".join(missed) + "."
            problem = unscorable(text)
            if problem:
                feedback = problem + " " + feedback
        self._save(session, q, kind, session.prompt().text, text, rub, result.score, notices)
        # For the admin's learner analytics: one graded answer, scored 0-1 (never raises).
        self.metrics.record_interaction(Interaction(
            user=session.user, action="interview_answer", at=time.time(), subject=q.topic,
            difficulty=q.difficulty, correct=result.score / 10))
        model = self.model_answer(q, session.user) if model_answer else ModelAnswer(q.answer, None, None, None, "")
        new = dataclasses.replace(session, index=session.index + 1, follow_up=None,
                                  results=session.results + (result,))
        if new.finished and new.session_id is not None:
            try:
                self.store.finish_session(new.session_id, new.user, overall_score(new.results))
            except InterviewStoreError as e:
                notices.append(f"{e} Your answers are saved; the session total is not.")
        return new, AnswerFeedback(kind, rub, True, None, result, model, feedback, tuple(notices))

    def _save(self, session: InterviewSession, q: InterviewQuestion, kind: str, prompt: str, text: str,
              rub: RubricScore, q_score: float, notices: list[str]) -> None:
        if session.session_id is None:
            return
        try:
            self.store.record_answer(session.session_id, session.user, question_id=q.id, topic=q.topic,
                                     difficulty=q.difficulty, kind=kind, prompt=prompt, answer=text,
                                     score=rub.score, question_score=q_score, covered=rub.covered,
                                     missed=rub.missed)
        except InterviewStoreError as e:
            notices.append(f"{e} This answer is scored but not saved to your history.")

    # ------------------------------------------------------------ model answer

    def model_answer(self, q: InterviewQuestion, user: str) -> ModelAnswer:
        """The bank's reference answer, plus the model's own (interview adapter when available)."""
        backend = self.backend
        try:
            adapters = backend.adapters()
        except Exception as e:  # noqa: BLE001 - model failed to load: the reference answer still shows
            return ModelAnswer(q.answer, None, None, None, f"No generated answer: the model is not available ({e}).")
        adapter = INTERVIEW_ADAPTER if INTERVIEW_ADAPTER in adapters else None
        note = ("Generated with the interview adapter." if adapter else
                "The interview adapter is not installed, so this answer comes from the base model "
                "(train it with `python -m training train --config training/configs/run_a.yaml`).")
        g = self.generation
        params = GenerationParams(max_new_tokens=min(MODEL_ANSWER_TOKENS, g.max_new_tokens), temperature=0.0,
                                  repetition_penalty=g.repetition_penalty)
        scored: dict[str, RubricScore] = {}

        def judge(text: str) -> float:  # the call's quality is its answer's rubric score, kept: scored once
            scored["rubric"] = score_answer(text.strip(), q.key_points, self.embed, question=q.question,
                                            reference=q.answer)
            return scored["rubric"].score / 10

        request = GenerationRequest(messages=interview_messages(q.question), params=params, adapter=adapter,
                                    meta=CallMeta("interview", user, judge))
        try:
            completion = generate(backend, request)
        except Exception as e:  # noqa: BLE001 - the reference answer still shows; say why there is no other
            logger.exception("interview model answer failed")
            return ModelAnswer(q.answer, None, adapter, None,
                               f"The model answer could not be generated ({type(e).__name__}).")
        text = completion.text.strip()
        rub = scored.get("rubric") or score_answer(text, q.key_points, self.embed, question=q.question,
                                                   reference=q.answer)
        ok = says_the_reference(rub)  # judged as a candidate's answer is: one that fails is no model answer
        note = note if ok else f"{MODEL_ANSWER_MISMATCH} {note}"
        return ModelAnswer(q.answer, text or None, adapter, rub.coverage, note, ok)

    # ------------------------------------------------------------ summary and history

    def summary(self, session: InterviewSession) -> SessionSummary:
        results = session.results
        if not results:
            return SessionSummary(0.0, (), (), (), (), ("No question answered yet.",))
        by_topic: dict[str, list[float]] = {}
        for r in results:
            by_topic.setdefault(r.question.topic, []).append(r.score)
        per_topic = tuple(sorted((TopicScore(t, round(sum(s) / len(s), 1), len(s)) for t, s in by_topic.items()),
                                 key=lambda ts: (ts.mean_score, ts.topic)))
        weakest = tuple(ts.topic for ts in per_topic if ts.mean_score < WEAK_BELOW)[:MAX_WEAK_TOPICS]
        reading, notices = self.reading(session.user, weakest, results)
        return SessionSummary(overall_score(results), per_topic, weakest, reading, results, notices)

    def reading(self, user: str, topics: Sequence[str],
                results: Sequence[QuestionResult]) -> tuple[tuple[Reading, ...], tuple[str, ...]]:
        """Course sections on what was missed in each topic, found by retrieval over the indexed
        knowledge base; only documents that exist in the knowledge-base folder are listed."""
        if not topics:
            return (), ()
        try:
            on_disk = self.tutor.document_ids()
            subjects = set(self.tutor.subjects())
        except Exception:  # noqa: BLE001 - reading is an extra; the scores still show
            logger.exception("knowledge base not readable for interview reading")
            return (), ("Reading suggestions are unavailable: the course documents could not be read.",)
        out: list[Reading] = []
        notices: list[str] = []
        for topic in topics:
            missed = [p for r in results if r.question.topic == topic for p in r.missed]
            query = f"{topic}: " + " ".join(missed[:4]) if missed else topic
            subject = TOPIC_SUBJECTS.get(topic)
            subject = subject if subject in subjects else None
            try:
                found = self.tutor.retrieve(query, subject=subject, user=user)
            except TutorError as e:
                notices.append(f"No reading for {topic}: {e}")
                continue
            docs: set[str] = set()
            for hit in found.hits if found.covered else ():
                c = hit.chunk
                if c.doc_id in docs or c.doc_id not in on_disk:
                    continue
                docs.add(c.doc_id)
                snippet = re.sub(r"\s+", " ", c.text).strip()
                out.append(Reading(topic, c.title, c.doc_id, c.section, c.subject,
                                   snippet[:240] + ("…" if len(snippet) > 240 else "")))
                if len(docs) >= READING_PER_TOPIC:
                    break
            if not docs:
                notices.append(f"The course documents do not cover {topic} closely; no reading suggested.")
        return tuple(out), tuple(notices)

    def history(self, user: str) -> tuple[list, list[TopicHistory]]:
        """(sessions, per-topic history) of one user; raises InterviewStoreError."""
        return self.store.sessions(user), self.store.topic_history(user)


def overall_score(results: Sequence[QuestionResult]) -> float:
    return round(sum(r.score for r in results) / len(results), 1) if results else 0.0

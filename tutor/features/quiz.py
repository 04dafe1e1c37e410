"""Quiz generation grounded in the knowledge base: every item is built from one indexed chunk.

Owns the flow of a quiz: bound and check the request -> pick chunks (a topic's retrieved chunks,
the subject's chunks at the chosen level, or the learner's FSRS review queue) -> build items ->
run the checks (quiz_checks.py) -> stream each passing item and store it.

Why items are built from the chunk, not written by the model: the 135M embedded model invents
wrong facts (MODELS.md). So the fact, the correct answer and the distractors come from the
course text itself: the answer is a distinctive term of one of the chunk's sentences (rare in
the subject, preferably named in the section heading); distractors are the same kind of term from
other chunks of the same subject; true/false statements are the chunk's sentence or that sentence
with its term swapped. The model only phrases multiple-choice questions, inside a JSON schema
(QUESTION_SCHEMA), and its question is used only when it passes extra checks (model_question_ok);
otherwise the item keeps the cloze question built from the sentence. Each model call is recorded
in the metrics with quality 1.0 (question used) or 0.0 (fallback): their mean is the pass rate.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import random
import time
from dataclasses import dataclass
from typing import Iterator, Sequence, Union

from tutor.errors import InputError, TutorError
from tutor.features import quiz_checks as checks
from tutor.features.schemas import DIFFICULTIES, QUIZ_KINDS, QUESTION_SCHEMA, QuizItem, item_id_for
from tutor.keypoint import candidate_sentences

from tutor.retrieval.bm25 import STOPWORDS, _fold
from tutor.types import CallMeta, Chunk, Completion, GenerationParams, GenerationRequest, Message, RetrievedChunk

logger = logging.getLogger(__name__)

AUTO = "auto"  # difficulty that follows the learner's recent accuracy
QUESTION_MAX_TOKENS = 48  # JSON (~6 tokens) + a 120-character question (~30 tokens) with room
_TERM_WORD = checks._WORD


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


# ---------------------------------------------------------------- terms and distractors


@dataclass(frozen=True)
class _Candidate:
    score: float
    sentence: str
    term: str


def _idf(chunks: Sequence[Chunk]) -> dict[str, float]:
    df: dict[str, int] = {}
    for c in chunks:
        for w in set(checks.norm(c.text).split()):
            df[w] = df.get(w, 0) + 1
    n = max(1, len(chunks))
    return {w: math.log((n + 1) / (d + 0.5)) for w, d in df.items()}


# Headings that name a kind of section, not a concept of the subject.
_GENERIC = frozenset({"worked", "example", "examples", "common", "mistakes", "key", "takeaways", "summary",
                      "introduction", "overview", "notes", "further", "reading", "practice", "exercises", "page",
                      "meaning", "form", "word", "rules", "basics", "definition", "intuition", "idea", "ideas",
                      "uses", "works", "checks", "default"})
_BOLD = re.compile(r"\*\*([^*\n]{3,40})\*\*")


def _fold_words(text: str) -> tuple[str, ...]:
    return tuple(_fold(w) for w in checks.norm(text).split())


def concept_vocabulary(chunks: Sequence[Chunk]) -> dict[tuple[str, ...], str]:
    """The subject's concepts: 1-3 word phrases of its titles, section headings and bold terms
    (folded words -> a display form). Answers and distractors are drawn from these, so options are
    all names of real concepts of the course, not random words of a sentence."""
    phrases: list[str] = []
    for c in chunks:
        parts = [c.title] + c.section.split(">")
        parts += _BOLD.findall(c.text)
        for part in parts:
            for piece in re.split(r"[,:;()/]| and | or | vs\.? | with | of | for | in | the ", part):
                phrases.append(piece.strip())
    vocab: dict[tuple[str, ...], str] = {}
    for ph in phrases:
        words = [w for w in _TERM_WORD.findall(ph)]
        # contiguous runs of non-stopword words
        run: list[str] = []
        for w in words + [""]:
            if w and w.lower() not in STOPWORDS and len(w) > 2 and w.lower() not in _GENERIC:
                run.append(w)
                continue
            # Suffixes of the run only: its last word is the head noun ("critical points" -> "points"),
            # while a leading modifier alone ("critical", "finding") is not a concept.
            for n in (1, 2, 3):
                if n <= len(run):
                    surface = " ".join(x if x.isupper() else x.lower() for x in run[-n:])
                    vocab.setdefault(_fold_words(surface), surface)
            run = []
    return vocab


def _terms_in(sentence: str) -> list[str]:
    """Runs of 1-3 consecutive words (letters only): the spans a question can blank out."""
    words = [(m.group(0), m.start(), m.end()) for m in _TERM_WORD.finditer(sentence)]
    out: list[str] = []
    for i in range(len(words)):
        for n in (1, 2, 3):
            span = words[i:i + n]
            if len(span) < n:
                break
            if any(sentence[a[2]:b[1]] != " " for a, b in zip(span, span[1:])):
                break  # consecutive words only: nothing but spaces between them
            out.append(sentence[span[0][1]:span[-1][2]])
    return out


def _prose_like(sentence: str) -> bool:
    """Formulas and worked numbers make poor questions: mostly letters required."""
    letters = sum(ch.isalpha() or ch == " " for ch in sentence)
    return letters / max(1, len(sentence)) >= 0.85 and "=" not in sentence


def candidates_for(chunk: Chunk, idf: dict[str, float], vocab: dict[tuple[str, ...], str]) -> list[_Candidate]:
    """(sentence, concept term) pairs of a chunk, best first; one per sentence."""
    heading = set(_fold_words(chunk.section + " " + chunk.title))
    out: list[_Candidate] = []
    hit = RetrievedChunk(chunk, 0.0, None, None, 1)
    for _, sentence in candidate_sentences([hit]):
        if len(sentence) > 300 or not _prose_like(sentence):
            continue
        for term in _terms_in(sentence):
            key = _fold_words(term)
            nt = checks.norm(term)
            if key not in vocab or checks.norm(sentence).count(nt) != 1 or len(nt) < 4:
                continue
            score = sum(idf.get(w, 0.0) for w in nt.split()) / len(key) * (1 + 0.3 * (len(key) - 1))
            if set(key) & heading:
                score += 1.0
            out.append(_Candidate(score, sentence, term))
    out.sort(key=lambda c: -c.score)
    seen: set[str] = set()
    best: list[_Candidate] = []
    for c in out:
        if c.sentence not in seen:
            seen.add(c.sentence)
            best.append(c)
    return best


@dataclass(frozen=True)
class _Pool:
    vocab: dict[tuple[str, ...], str]
    doc_of: dict[tuple[str, ...], set[str]]  # concept -> documents whose text names it


def build_pool(chunks: Sequence[Chunk]) -> _Pool:
    vocab = concept_vocabulary(chunks)
    doc_of: dict[tuple[str, ...], set[str]] = {}
    for key, surface in vocab.items():
        for c in chunks:
            if checks.contains_phrase(c.title + " " + c.section, surface):
                doc_of.setdefault(key, set()).add(c.doc_id)
    return _Pool(vocab, doc_of)


def _distractors(answer: str, source: Chunk, pool: _Pool, rng: random.Random, n: int,
                 difficulty: str) -> list[str]:
    """`n` other concepts of the subject: sharing no word with the answer and absent from the source
    chunk (so none of them is also correct); same length as the answer where possible."""
    a_key = set(_fold_words(answer))
    same_doc: list[str] = []
    other: list[str] = []
    for key, surface in pool.vocab.items():
        if set(key) & a_key or checks.contains_phrase(source.text, surface) or len(surface) < 4:
            continue
        (same_doc if source.doc_id in pool.doc_of.get(key, ()) else other).append(surface)
    same_doc.sort()
    other.sort()
    rng.shuffle(same_doc)
    rng.shuffle(other)
    # Advanced quizzes draw from the same document first: closer concepts, harder to tell apart.
    ordered = same_doc + other if difficulty == "advanced" else other + same_doc
    want = len(a_key)
    ordered.sort(key=lambda t: len(t.split()) != want)  # stable: same length first, shuffle kept
    picked: list[str] = []
    for t in ordered:
        t = _shape_like(t, answer)
        if checks._options_distinct(picked + [t, answer]):
            picked.append(t)
        if len(picked) == n:
            break
    return picked


def _shape_like(term: str, answer: str) -> str:
    """Match the answer's capitalisation so the correct option does not stand out."""
    if answer[:1].islower() and term[:1].isupper() and not term.isupper():
        return term[0].lower() + term[1:]
    return term


# ---------------------------------------------------------------- item building


def _explanation(sentence: str, chunk: Chunk) -> str:
    where = f"{chunk.title} › {chunk.section}" if chunk.section else chunk.title
    return f"The course says: “{sentence}” (source: {where})"


def build_item(chunk: Chunk, cand: _Candidate, kind: str, difficulty: str,
               pool: _Pool, rng: random.Random, question: str | None = None,
               generated_by: str = "kb") -> QuizItem | None:
    """An item of `kind` from one (sentence, term) of `chunk`; None when no distractors exist."""
    term = cand.term
    blanked = checks.cloze(cand.sentence, term)
    options: tuple[str, ...]
    if kind == "mcq":
        ds = _distractors(term, chunk, pool, rng, 3, difficulty)
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
            ds = _distractors(term, chunk, pool, rng, 1, difficulty)
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


# ---------------------------------------------------------------- the quiz


class QuizMaker:
    """Makes quizzes for a Tutor and a LearnerStore. Holds no per-learner state."""

    def __init__(self, tutor, store) -> None:
        self.tutor = tutor
        self.store = store

    def subject_chunks(self, subject: str) -> list[Chunk]:
        chunks, _ = self.tutor.retriever.store.all_chunks(with_embeddings=False)
        return [c for c in chunks if c.subject == subject]

    def _resolve_subject(self, subject: str | None) -> str:
        subjects = self.tutor.subjects()
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
        lc = self.tutor.cfg.learning
        notices: list[str] = []
        count, note = bound_count(req.count, lc.max_questions)
        if note:
            notices.append(note)
        if req.kind not in QUIZ_KINDS:
            raise QuizInputError(f"Unknown question type {req.kind!r}; choose one of: {', '.join(QUIZ_KINDS.values())}.")
        if req.review:
            yield from self._review(req, count, notices, t0)
            return
        subject = self._resolve_subject(req.subject)
        difficulty = req.difficulty
        if difficulty == AUTO:
            n, acc = self.store.recent_accuracy(req.learner, subject, lc.adaptive_window)
            last = self._last_difficulty(req.learner, subject)
            difficulty = next_difficulty(last, n, acc) if n else "beginner"
            notices.append(f"Difficulty: {difficulty}" + (f" (your last {n} answers in {subject}: {acc:.0%} correct)."
                                                          if n else " (your first quiz in this subject)."))
        elif difficulty not in DIFFICULTIES:
            raise QuizInputError(f"Difficulty must be one of: {', '.join(DIFFICULTIES)} or auto.")

        all_chunks = self.subject_chunks(subject)
        if not all_chunks:
            raise QuizInputError(f"The knowledge base has no documents for {subject} yet.", self.tutor.subjects())
        rng = random.Random(req.seed)
        topic = (req.topic or "").strip()
        if topic:
            result = self.tutor.retrieve(topic, subject, req.learner)
            if not result.covered or not result.hits:
                near = _closest_topics(result.hits) or sorted({c.title for c in all_chunks})[:3]
                raise QuizInputError(f"The course documents do not cover “{topic}”. Closest covered topics: "
                                     f"{'; '.join(near)}.", near)
            wanted = self.tutor.retriever.search(topic, k=min(50, max(3 * count, 10)), subject=subject)
            ordered = [h.chunk for h in wanted.hits if (h.dense_similarity or 0) >= self.tutor.cfg.retrieval.relevance_floor]
            ordered = ordered or [h.chunk for h in result.hits]
        else:
            at_level = [c for c in all_chunks if c.level == difficulty]
            rest = [c for c in all_chunks if c.level != difficulty]
            rng.shuffle(at_level)
            rng.shuffle(rest)
            ordered = at_level + rest

        idf = _idf(all_chunks)
        pool = build_pool(all_chunks)
        quiz_id = self.store.create_quiz(req.learner, subject, topic, difficulty, req.kind)
        yield QuizStarted(quiz_id, subject, difficulty, count, tuple(notices))
        seen = {checks.norm(q) for q in self.store.recent_questions(req.learner, lc.recent_quizzes)}
        stats = _Stats()
        delivered = 0
        used_answers: set[str] = set()
        use_model = req.use_model and req.kind == "mcq"
        slowest = 0.0
        for chunk in ordered:
            if delivered >= count:
                break
            for cand in candidates_for(chunk, idf, pool.vocab)[:4]:
                if checks.norm(cand.term) in used_answers:
                    continue  # two items with one answer would hint at each other
                item = build_item(chunk, cand, req.kind, difficulty, pool, rng)
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
                if use_model and time.perf_counter() - t0 + slowest < req.model_budget_s:
                    t_call = time.perf_counter()
                    item, use_model = self._phrase(item, cand, chunk.text, seen, req.learner, stats)
                    slowest = max(slowest, time.perf_counter() - t_call)
                self.store.add_item(quiz_id, item)
                seen.add(checks.norm(item.question))
                used_answers.add(checks.norm(cand.term))
                yield ItemReady(delivered, item, time.perf_counter() - t0)
                delivered += 1
                break  # one item per chunk: spread the quiz over the material
        notice = None
        if delivered < count:
            notice = (f"Only {delivered} new question(s) could be made from the course material for this choice; "
                      "try another topic or difficulty." if delivered else
                      "No new questions could be made for this choice (you may have seen them all recently); "
                      "try another topic or difficulty.")
        yield QuizFinished(quiz_id, delivered, stats.attempted, dict(stats.failed), stats.model_calls,
                           stats.model_passed, time.perf_counter() - t0, notice)

    def _phrase(self, item: QuizItem, cand: _Candidate, chunk_text: str, seen: set[str], learner: str,
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
            completion: Completion = generate(self.tutor.backend, request)
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
    model_calls: int = 0
    model_passed: int = 0

    def __post_init__(self) -> None:
        self.failed: dict[str, int] = {}


def _closest_topics(hits: Sequence[RetrievedChunk]) -> list[str]:
    out: list[str] = []
    for h in hits:
        last = h.chunk.section.split(">")[-1].strip()
        label = f"{h.chunk.title} › {last}" if last and last != h.chunk.title else h.chunk.title
        if label not in out:
            out.append(label)
    return out[:3]

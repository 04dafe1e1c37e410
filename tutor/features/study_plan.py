"""Study plans built from the knowledge base, with the model writing only what it can write well.

Owns the flow of a plan: resolve the subject (or the subject a free-text goal retrieves) -> the
subject's outline from the index (documents ordered by level, then their sections in reading
order; focus topics moved first) -> topics spread over weeks and sessions that fit the hours ->
per week, the model writes a theme and practice activities inside WEEK_SCHEMA (JSON-schema
constrained) -> each week is checked and, when the model's text is unusable or the time budget
is spent, filled from the outline instead -> the whole plan is validated against PLAN_SCHEMA.

Topics, minutes and readings (the citations) always come from indexed chunks: a plan can never
cite a document the knowledge base does not have.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Iterator, Sequence, Union

from tutor.backends.base import LLMBackend
from tutor.config import AppConfig
from tutor.errors import InputError, TutorError
from tutor.features import quiz_checks as checks
from tutor.features.course import ChunkSource, CourseIndex
from tutor.features.schemas import DIFFICULTIES, PLAN_SCHEMA, WEEK_SCHEMA, PlanSession, PlanWeek, Reading, StudyPlan
from tutor.learners import LearnerStore
from tutor.types import CallMeta, Chunk, GenerationParams, GenerationRequest, Message

logger = logging.getLogger(__name__)

WEEK_MAX_TOKENS = 72  # JSON (~15 tokens) + a 40-char theme + two 50-char activities (~4 chars a token)
# A model-written week starts only if it should end by this time (elapsed + the slowest week call so
# far), so a whole plan stays under the 15 s target on 2 cores; later weeks come from the outline.
MODEL_BUDGET_S = 13.5
SESSION_MINUTES = (30, 90)  # a study session's bounds: shorter is not worth starting, longer tires


class PlanInputError(InputError):
    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions = tuple(suggestions)


@dataclass(frozen=True)
class PlanRequest:
    learner: str
    subject: str | None = None
    goal: str = ""
    level: str = "beginner"
    hours_per_week: float = 4.0
    weeks: int | None = 4
    target_date: str | None = None  # ISO date; used when weeks is None
    focus: tuple[str, ...] = ()
    start_date: str | None = None  # ISO date; default today
    use_model: bool = True


@dataclass(frozen=True)
class PlanStarted:
    plan_id: str
    subject: str
    weeks: int
    notices: tuple[str, ...]


@dataclass(frozen=True)
class WeekReady:
    week: PlanWeek
    by_model: bool
    elapsed_s: float


@dataclass(frozen=True)
class PlanFinished:
    plan: StudyPlan
    valid: bool
    model_weeks: int
    elapsed_s: float


PlanEvent = Union[PlanStarted, WeekReady, PlanFinished]


@dataclass(frozen=True)
class Topic:
    doc_id: str
    title: str
    level: str
    section: str
    chunk_id: str
    words: int

    def reading(self) -> Reading:
        return Reading(self.doc_id, self.title, self.section, self.chunk_id)


# ---------------------------------------------------------------- outline


def outline(chunks: Sequence[Chunk]) -> list[Topic]:
    """The subject's sections (heading level 2) in reading order, documents by level."""
    order = {lvl: i for i, lvl in enumerate(DIFFICULTIES)}
    topics: dict[tuple[str, str], Topic] = {}
    words: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], int] = {}
    for c in sorted(chunks, key=lambda c: (c.doc_id, c.ordinal)):
        parts = [p.strip() for p in c.section.split(">")]
        section = parts[1] if len(parts) > 1 else (parts[0] or c.title)
        key = (c.doc_id, section)
        if key not in topics:
            topics[key] = Topic(c.doc_id, c.title, c.level, section, c.id, 0)
            first[key] = c.ordinal
        words[key] = words.get(key, 0) + len(c.text.split())
    skip = ("key takeaways", "common mistakes")
    out = [Topic(t.doc_id, t.title, t.level, t.section, t.chunk_id, words[k]) for k, t in topics.items()
           if t.section.lower() not in skip]
    out.sort(key=lambda t: (order.get(t.level, 1), t.doc_id, first[(t.doc_id, t.section)]))
    return out


def plan_weeks(weeks: int | None, target_date: str | None, start: dt.date, max_weeks: int) -> tuple[int, str | None]:
    if weeks is None and target_date:
        try:
            end = dt.date.fromisoformat(target_date.strip())
        except ValueError:
            raise PlanInputError(f"“{target_date}” is not a date; use YYYY-MM-DD.") from None
        days = (end - start).days
        if days < 1:
            raise PlanInputError("The target date must be after the start date.")
        weeks = max(1, days // 7)
    try:
        n = int(weeks or 0)
    except (TypeError, ValueError):
        raise PlanInputError(f"“{weeks}” is not a number of weeks.") from None
    if n < 1:
        return 1, "A plan has at least 1 week, so this one has 1."
    if n > max_weeks:
        return max_weeks, f"Plans are limited to {max_weeks} weeks, so this one has {max_weeks}."
    return n, None


def sessions_per_week(hours: float) -> tuple[int, int]:
    """(sessions, minutes each) filling the weekly hours with sessions of 30-90 minutes."""
    total = int(round(hours * 60))
    n = max(1, min(7, round(total / 60)))
    minutes = max(SESSION_MINUTES[0], min(SESSION_MINUTES[1], total // n))
    return n, minutes


def layout(topics: Sequence[Topic], weeks: int, per_week: int, minutes: int) -> list[list[list[Topic]]]:
    """weeks -> sessions -> topics. More topics than sessions: several per session, in order; fewer:
    the remaining sessions revisit the topics so far (review sessions)."""
    slots = weeks * per_week
    grid: list[list[Topic]] = [[] for _ in range(slots)]
    if len(topics) >= slots:
        for i, t in enumerate(topics):
            grid[i * slots // len(topics)].append(t)
    else:
        for i in range(slots):
            grid[i] = [topics[i % len(topics)]] if i < len(topics) else [topics[(i - len(topics)) % len(topics)]]
    return [grid[w * per_week:(w + 1) * per_week] for w in range(weeks)]


# ---------------------------------------------------------------- model part


def week_request(subject: str, level: str, topics: Sequence[Topic]) -> GenerationRequest:
    names = "; ".join(dict.fromkeys(t.section for t in topics))
    messages = (
        Message("system", "You plan one week of study. Reply with JSON only."),
        Message("user", f"Subject: {subject} ({level}). This week's topics: {names}.\nGive the week a short "
                        f"theme and 2 practice activities on these topics."),
    )
    params = GenerationParams(max_new_tokens=WEEK_MAX_TOKENS, temperature=0.0, repetition_penalty=1.0)
    return GenerationRequest(messages=messages, params=params, json_schema=WEEK_SCHEMA)


def week_text_ok(value: dict, topics: Sequence[Topic]) -> str | None:
    """None when the model's theme and activities are usable for these topics, else why not."""
    about = set()
    for t in topics:
        about |= checks.content_words(t.section + " " + t.title)
    if not checks.content_words(value["theme"]) & about:
        return "theme is not about the week's topics"
    acts = [a.strip() for a in value["activities"]]
    if len({checks.norm(a) for a in acts}) != len(acts) or any(len(a.split()) < 3 for a in acts):
        return "activities repeat or are fragments"
    return None


def fallback_theme(topics: Sequence[Topic]) -> str:
    sections = list(dict.fromkeys(t.section for t in topics))
    return sections[0] if len(sections) == 1 else f"{sections[0]} and more"


# ---------------------------------------------------------------- the plan


class PlanMaker:
    """Makes study plans from the course index into a LearnerStore. Holds no per-learner state."""

    def __init__(self, *, backend: LLMBackend, course: CourseIndex, chunks: ChunkSource, learners: LearnerStore,
                 cfg: AppConfig) -> None:
        self.backend = backend  # writes each week's theme and activities; metered, so its calls are recorded
        self.course = course  # subjects, and the recorded retrieval of a goal or focus topic
        self.chunks = chunks  # the subject's outline
        self.store = learners
        self.cfg = cfg

    def _subject(self, req: PlanRequest) -> tuple[str, list[str]]:
        subjects = self.course.subjects()
        if req.subject and req.subject.strip():
            for s in subjects:
                if s.lower() == req.subject.strip().lower():
                    return s, []
            raise PlanInputError(f"“{req.subject}” is not a subject of the course. Covered subjects: "
                                 f"{', '.join(subjects)}.", subjects)
        goal = req.goal.strip()
        if not goal:
            raise PlanInputError("Please pick a subject or describe your goal.", subjects)
        result = self.course.retrieve(goal, None, req.learner)
        if not result.covered or not result.hits:
            near = list(dict.fromkeys(f"{h.chunk.subject}: {h.chunk.title}" for h in result.hits))[:3]
            raise PlanInputError(f"The course documents do not cover “{goal}”. Closest covered topics: "
                                 f"{'; '.join(near) or ', '.join(subjects)}.", near or subjects)
        # The subject most of the goal's hits belong to (one stray top hit does not decide it).
        votes: dict[str, float] = {}
        for h in result.hits:
            votes[h.chunk.subject] = votes.get(h.chunk.subject, 0.0) + h.score
        subject = max(votes, key=lambda s: votes[s])
        return subject, [f"Your goal matches the subject {subject}."]

    def generate(self, req: PlanRequest) -> Iterator[PlanEvent]:
        t0 = time.perf_counter()
        lc = self.cfg.learning
        if req.level not in DIFFICULTIES:
            raise PlanInputError(f"Level must be one of: {', '.join(DIFFICULTIES)}.")
        try:
            hours = float(req.hours_per_week)
        except (TypeError, ValueError):
            raise PlanInputError(f"“{req.hours_per_week}” is not a number of hours.") from None
        if not 0.5 <= hours <= 60:
            raise PlanInputError("Hours per week must be between 0.5 and 60.")
        try:
            start = dt.date.fromisoformat(req.start_date) if req.start_date else dt.date.today()
        except ValueError:
            raise PlanInputError(f"“{req.start_date}” is not a date; use YYYY-MM-DD.") from None
        n_weeks, note = plan_weeks(req.weeks, req.target_date, start, lc.max_plan_weeks)
        subject, notices = self._subject(req)
        if note:
            notices.append(note)
        chunks, _ = self.chunks.all_chunks(with_embeddings=False)
        topics = outline([c for c in chunks if c.subject == subject])
        if not topics:
            raise PlanInputError(f"The knowledge base has no documents for {subject} yet.")
        # Start at the learner's level (documents below it are skipped) unless that leaves almost nothing.
        rank = DIFFICULTIES.index(req.level)
        ahead = [t for t in topics if t.level not in DIFFICULTIES or DIFFICULTIES.index(t.level) >= rank]
        topics = ahead if len(ahead) >= 2 else topics
        topics = self._focus_first(req, subject, topics, notices)

        per_week, minutes = sessions_per_week(hours)
        grid = layout(topics, n_weeks, per_week, minutes)
        plan_id = uuid.uuid4().hex
        title = f"{subject}: {n_weeks}-week plan ({req.level}, {hours:g} h/week)"
        yield PlanStarted(plan_id, subject, n_weeks, tuple(notices))

        use_model = req.use_model
        weeks: list[PlanWeek] = []
        model_weeks = 0
        slowest = 0.0
        for w, sessions in enumerate(grid, start=1):
            week_topics = [t for s in sessions for t in s]
            theme, acts, by_model = "", [], False
            if use_model and time.perf_counter() - t0 + slowest < MODEL_BUDGET_S:
                t_call = time.perf_counter()
                got, use_model = self._model_week(subject, req, week_topics)
                slowest = max(slowest, time.perf_counter() - t_call)
                if got:
                    theme, acts, by_model = got[0], got[1], True
                    model_weeks += 1
            if not by_model:
                theme, acts = fallback_theme(week_topics), []
            week = PlanWeek(w, theme, tuple(
                PlanSession(
                    topic=" · ".join(dict.fromkeys(t.section for t in s)),
                    activities=tuple(_session_activities(s, acts, i, len(sessions))),
                    minutes=minutes,
                    readings=tuple(t.reading() for t in s),
                ) for i, s in enumerate(sessions)))
            weeks.append(week)
            yield WeekReady(week, by_model, time.perf_counter() - t0)
        plan = StudyPlan(plan_id, title, subject, req.goal.strip(), req.level, hours, start.isoformat(),
                         tuple(weeks), tuple(notices))
        valid = validate_plan(plan) is None
        if valid:
            self.store.save_plan(req.learner, plan)
        else:  # cannot happen by construction; logged loudly if it ever does
            logger.error("study plan failed its schema: %s", validate_plan(plan))
        yield PlanFinished(plan, valid, model_weeks, time.perf_counter() - t0)

    def _focus_first(self, req: PlanRequest, subject: str, topics: list[Topic], notices: list[str]) -> list[Topic]:
        focus_keys: list[tuple[str, str]] = []
        for f in (x.strip() for x in req.focus if x and x.strip()):
            res = self.course.retrieve(f, subject, req.learner)
            if not res.covered or not res.hits:
                notices.append(f"“{f}” is not covered in {subject}; the plan follows the course outline instead.")
                continue
            c = res.hits[0].chunk
            parts = [p.strip() for p in c.section.split(">")]
            focus_keys.append((c.doc_id, parts[1] if len(parts) > 1 else (parts[0] or c.title)))
        if not focus_keys:
            return topics
        first = [t for t in topics if (t.doc_id, t.section) in focus_keys]
        return first + [t for t in topics if t not in first]

    def _model_week(self, subject: str, req: PlanRequest, topics: Sequence[Topic]) -> tuple[tuple[str, list[str]] | None, bool]:
        from tutor.backends.base import generate
        from tutor.backends.json_schema import parse

        checked: dict[str, tuple[dict | None, str | None]] = {}

        def judge(text: str) -> float:
            # quality 1.0 = the model's week reached the plan; the mean over calls is the pass rate
            value, why = parse(text, WEEK_SCHEMA)
            checked["week"] = (value, why or week_text_ok(value, topics))
            return 0.0 if checked["week"][1] else 1.0

        request = dataclasses.replace(week_request(subject, req.level, topics),
                                      meta=CallMeta("study_plan", req.learner, judge))
        try:
            completion = generate(self.backend, request)
        except TutorError as e:
            logger.warning("study-plan weeks written from the outline only: %s", e)
            return None, False
        if "week" not in checked:
            judge(completion.text)
        value, why = checked["week"]
        if why:
            logger.debug("model week rejected (%s): %r", why, completion.text)
            return None, True
        return (value["theme"].strip(), [a.strip() for a in value["activities"]]), True


def _session_activities(topics: Sequence[Topic], week_acts: Sequence[str], index: int, n_sessions: int) -> list[str]:
    """One activity per session besides its readings: the model's week activities shared out over
    the sessions, or, without them, study tasks built from the session's own topics."""
    if week_acts:
        return [week_acts[index % len(week_acts)]]
    main = topics[0]
    if index == n_sessions - 1 and n_sessions > 1:
        return [f"Take a 5-question quiz on {main.title}"]
    if index % 2 == 0:
        return [f"Read “{main.section}” and write a three-sentence summary in your own words"]
    return [f"Work through “{topics[-1].section}” and note one question to ask the tutor"]


def validate_plan(plan: StudyPlan) -> str | None:
    import json

    from tutor.backends.json_schema import validate

    # Validate what is stored (the JSON), not the dataclasses: tuples are not JSON arrays.
    return validate(json.loads(plan.to_json()), PLAN_SCHEMA)


def plan_markdown(plan: StudyPlan) -> str:
    lines = [f"# {plan.title}", ""]
    if plan.goal:
        lines += [f"**Goal:** {plan.goal}", ""]
    lines += [f"Starts {plan.start_date} · {plan.hours_per_week:g} hours a week", ""]
    for n in plan.notes:
        lines.append(f"> {n}")
    for w in plan.weeks:
        lines += ["", week_markdown(w)]
    return "\n".join(lines).strip() + "\n"


def week_markdown(week: PlanWeek) -> str:
    lines = [f"## Week {week.number}: {week.theme}", ""]
    for i, s in enumerate(week.sessions, start=1):
        lines.append(f"**Session {i} ({s.minutes} min): {s.topic}**")
        lines += [f"- {a}" for a in s.activities]
        lines += [f"- 📖 {r.title} › {r.section} (`{r.doc_id}`)" for r in s.readings]
        lines.append("")
    return "\n".join(lines)

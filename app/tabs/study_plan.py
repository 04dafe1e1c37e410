"""Study plan tab: make a plan (weeks appear as they are written), download it as markdown and as an
.ics calendar, and reopen the learner's saved plans. Handlers are plain functions."""
from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from app.downloads import Downloads, links_markdown
from app.identity import login_name
from tutor.errors import TutorError
from tutor.features.calendar import plan_to_ics
from tutor.features.schemas import DIFFICULTIES, StudyPlan
from tutor.features.study_plan import (
    PlanFinished, PlanInputError, PlanMaker, PlanRequest, PlanStarted, WeekReady, plan_markdown, week_markdown,
)
from tutor.learners import LearnerStore
from tutor.service import Tutor

logger = logging.getLogger(__name__)

ANY_SUBJECT = "(from my goal)"


def export_files(plan: StudyPlan, folder: Path | None = None) -> tuple[str, str]:
    """Write the plan's .md and .ics into a fresh folder (one per plan: learners never share files)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="smartlearn-plan-"))
    stem = re.sub(r"[^A-Za-z0-9]+", "-", f"{plan.subject}-{plan.weeks and len(plan.weeks)}-weeks").strip("-").lower()
    md, ics = folder / f"{stem}.md", folder / f"{stem}.ics"
    md.write_text(plan_markdown(plan), encoding="utf-8")
    ics.write_text(plan_to_ics(plan), encoding="utf-8", newline="")
    return str(md), str(ics)


def _parse_focus(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in re.split(r"[,;\n]", text or "") if p.strip())


def plan_request(user: str, subject: str | None, goal: str, level: str, hours: Any, weeks: Any,
                 target_date: str = "", focus: str = "") -> PlanRequest:
    """The tab's and the API's fields as a PlanRequest: no subject (or the goal placeholder) plans from the
    goal, 4 hours a week when left empty, the target date when weeks is left empty or 0."""
    subj = None if not subject or subject == ANY_SUBJECT else subject
    n_weeks = None if (weeks in (None, "", 0) and (target_date or "").strip()) else weeks
    return PlanRequest(learner=user, subject=subj, goal=goal or "", level=level or "beginner",
                       hours_per_week=hours if hours not in (None, "") else 4, weeks=n_weeks,
                       target_date=(target_date or "").strip() or None, focus=_parse_focus(focus))


def make_plan(plans: PlanMaker, store: LearnerStore, user: str, subject: str | None, goal: str, level: str,
              hours: Any, weeks: Any, target_date: str, focus: str,
              progress: Callable[..., Any] | None = None) -> Iterator[tuple[Any, ...]]:
    """Yields (plan markdown, downloads update, saved-plans dropdown update) as weeks are written."""
    req = plan_request(user, subject, goal, level, hours, weeks, target_date, focus)
    shown: list[str] = []
    total = 1
    try:
        for event in plans.generate(req):
            if isinstance(event, PlanStarted):
                total = event.weeks
                shown = [f"# {event.subject}: {event.weeks}-week plan", *(f"> {n}" for n in event.notices)]
                yield "\n\n".join(shown + ["*Writing week 1…*"]), gr.update(), gr.update()
            elif isinstance(event, WeekReady):
                if progress is not None:
                    progress(event.week.number / total, desc=f"Week {event.week.number} of {total}")
                shown.append(week_markdown(event.week))
                more = [] if event.week.number == total else [f"*Writing week {event.week.number + 1}…*"]
                yield "\n\n".join(shown + more), gr.update(), gr.update()
            elif isinstance(event, PlanFinished):
                files = list(export_files(event.plan))
                yield (plan_markdown(event.plan), gr.update(value=files, visible=True),
                       gr.update(choices=saved_choices(store, user), value=event.plan.plan_id))
    except PlanInputError as e:
        gr.Warning(str(e))
        yield f"⚠️ {e}", gr.update(), gr.update()
    except TutorError as e:
        logger.exception("study plan failed")
        yield f"⚠️ {e}", gr.update(), gr.update()


def plan_api(plans: PlanMaker, user: str, subject: str = "", goal: str = "", level: str = "beginner",
             hours: Any = 4, weeks: Any = 4) -> Iterator[dict]:
    """The /plan endpoint: streams {"plan_id", "subject", "weeks": [week markdown so far], "done", "notices"};
    bad input ends with "error": a sentence. The plan is saved to `user` exactly as from the tab."""
    out: dict[str, Any] = {"plan_id": "", "subject": "", "weeks": [], "done": False, "notices": []}
    req = plan_request(user, subject, goal, level, hours, weeks if weeks not in (None, "") else 4)
    try:
        for event in plans.generate(req):
            if isinstance(event, PlanStarted):
                out.update(plan_id=event.plan_id, subject=event.subject, notices=list(event.notices))
            elif isinstance(event, WeekReady):
                out["weeks"].append(week_markdown(event.week))
            elif isinstance(event, PlanFinished):
                out.update(done=True, plan_id=event.plan.plan_id, valid=event.valid)
            yield dict(out, weeks=list(out["weeks"]))
    except TutorError as e:  # PlanInputError included: a sentence, never a stack trace
        yield {**out, "done": True, "error": str(e)}


def saved_choices(store: LearnerStore, user: str) -> list[tuple[str, str]]:
    return [(f"{p.title} · {dt.datetime.fromtimestamp(p.created_at):%Y-%m-%d %H:%M}", p.plan_id)
            for p in store.plans(user)]


def open_plan(store: LearnerStore, user: str, plan_id: str | None) -> tuple[Any, Any]:
    if not plan_id:
        gr.Warning("Pick a saved plan first.")
        return gr.update(), gr.update()
    plan = store.plan(user, plan_id)
    if plan is None:
        gr.Warning("That plan is not one of yours.")
        return gr.update(), gr.update()
    return plan_markdown(plan), gr.update(value=list(export_files(plan)), visible=True)


def offer_files(downloads: Downloads, owner: str | None, update: Any) -> Any:
    """A handler's files update (gr.update(value=[paths])) as owned download links (app/downloads.py): the
    files leave the temporary folder and never reach Gradio's shared cache."""
    paths = update.get("value") if isinstance(update, dict) else None
    if not paths:
        return update
    return gr.update(value=links_markdown(downloads.offer(owner, list(paths)), downloads.ttl_s), visible=True)


def build(tutor: Tutor, plans: PlanMaker, user_id: gr.State, store: LearnerStore,
          downloads: Downloads) -> tuple[gr.Dropdown, gr.Dropdown]:
    """Returns (subject dropdown, saved-plans dropdown) for main to refresh on page load."""
    with gr.Row():
        with gr.Column(scale=1):
            subject = gr.Dropdown([ANY_SUBJECT, *tutor.subjects()], value=ANY_SUBJECT, label="Subject",
                                  elem_id="plan-subject", allow_custom_value=True)
            goal = gr.Textbox(label="…or your goal in your words", placeholder="e.g. understand transformers",
                              elem_id="plan-goal")
            level = gr.Radio(list(DIFFICULTIES), value="beginner", label="Current level")
            hours = gr.Number(value=4, label="Hours per week", elem_id="plan-hours")
            weeks = gr.Number(value=4, precision=0, label="Weeks (leave 0 to use a target date)", elem_id="plan-weeks")
            target = gr.Textbox(label="Target date (YYYY-MM-DD, optional)")
            focus = gr.Textbox(label="Focus topics (optional, comma-separated)")
            make = gr.Button("Make my plan", variant="primary", elem_id="plan-make")
            saved = gr.Dropdown([], label="My saved plans", elem_id="plan-saved")
            reopen = gr.Button("Open saved plan")
        with gr.Column(scale=2):
            out = gr.Markdown(elem_id="plan-output")
            # Links, not gr.File: the files are served to their owner only (app/downloads.py).
            files = gr.Markdown(visible=False, elem_id="plan-downloads")

    def _make(user, s, g, lv, h, w, t, f, request: gr.Request, progress=gr.Progress()):
        for md, update, choices in make_plan(plans, store, user, s, g, lv, h, w, t, f, progress):
            yield md, offer_files(downloads, login_name(request), update), choices

    def _reopen(user, pid, request: gr.Request):
        md, update = open_plan(store, user, pid)
        return md, offer_files(downloads, login_name(request), update)

    make.click(_make, [user_id, subject, goal, level, hours, weeks, target, focus], [out, files, saved],
               api_name=False)
    reopen.click(_reopen, [user_id, saved], [out, files], api_name=False)
    return subject, saved

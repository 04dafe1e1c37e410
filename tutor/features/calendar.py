"""A study plan as an iCalendar (.ics) file: a small RFC 5545 writer, no dependency.

One VEVENT per session. Sessions of a week are spread over its days (Mon/Wed/Fri... from the
plan's start date) at a fixed local hour, as floating times (no time zone: "18:00 wherever the
learner is", RFC 5545 section 3.3.5). Text is escaped (3.3.11) and lines folded at 75 octets (3.1).
"""
from __future__ import annotations

import datetime as dt

from tutor.features.schemas import StudyPlan

SESSION_HOUR = 18  # evening study slot


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character."""
    out, cur, size = [], "", 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > 75:
            out.append(cur)
            cur, size = " " + ch, 1 + n
        else:
            cur += ch
            size += n
    out.append(cur)
    return "\r\n".join(out)


def session_days(n: int) -> list[int]:
    """Day offsets within a week for n sessions, spread out (3 -> Mon, Wed, Fri)."""
    n = max(1, min(7, n))
    return [round(i * 7 / n) for i in range(n)] if n > 1 else [0]


def plan_to_ics(plan: StudyPlan, *, now: dt.datetime | None = None) -> str:
    start = dt.date.fromisoformat(plan.start_date)
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//SmartLearn//Study plan//EN", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_escape(plan.title)}"]
    for week in plan.weeks:
        days = session_days(len(week.sessions))
        for i, s in enumerate(week.sessions):
            day = start + dt.timedelta(days=7 * (week.number - 1) + days[i])
            begin = dt.datetime.combine(day, dt.time(SESSION_HOUR))
            end = begin + dt.timedelta(minutes=s.minutes)
            desc = "\n".join([*s.activities, "", "Readings:", *(f"- {r.label()} ({r.doc_id})" for r in s.readings)])
            lines += [
                "BEGIN:VEVENT",
                f"UID:{plan.plan_id}-w{week.number}-s{i + 1}@smartlearn",
                f"DTSTAMP:{stamp}",
                f"DTSTART:{begin.strftime('%Y%m%dT%H%M%S')}",
                f"DTEND:{end.strftime('%Y%m%dT%H%M%S')}",
                f"SUMMARY:{_escape(f'{plan.subject} week {week.number}: {s.topic}')}",
                f"DESCRIPTION:{_escape(desc)}",
                "END:VEVENT",
            ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"

import datetime as dt

from tutor.features.calendar import plan_to_ics, session_days
from tutor.features.schemas import PlanSession, PlanWeek, Reading, StudyPlan

R = Reading("stats/tests.md", "Hypothesis testing", "p-values, errors; power", "stats/tests.md::1:ab")
PLAN = StudyPlan("pid", "Statistics: 2-week plan", "Statistics", "", "beginner", 2.0, "2026-01-05", (
    PlanWeek(1, "Testing", (PlanSession("p-values", ("Read it, then summarise; carefully",), 60, (R,)),
                            PlanSession("power " + "x" * 120, ("Quiz",), 45, (R,)))),
    PlanWeek(2, "More", (PlanSession("errors", ("Quiz",), 30, (R,)),)),
))


def unfold(ics):
    return ics.replace("\r\n ", "")


def test_one_event_per_session_with_times_escaping_and_folding():
    ics = plan_to_ics(PLAN, now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    assert ics.startswith("BEGIN:VCALENDAR\r\n") and ics.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
    text = unfold(ics)
    assert text.count("BEGIN:VEVENT") == 3
    assert "DTSTART:20260105T180000" in text and "DTEND:20260105T190000" in text  # Monday, 60 min
    assert "DTSTART:20260109T180000" in text  # second session on Friday (2 sessions spread)
    assert "DTSTART:20260112T180000" in text and "DTEND:20260112T183000" in text  # week 2
    assert "Read it\\, then summarise\\; carefully" in text and "\\n" in text
    assert "UID:pid-w1-s1@smartlearn" in text


def test_session_days_spread():
    assert session_days(3) == [0, 2, 5] and session_days(1) == [0] and len(set(session_days(7))) == 7

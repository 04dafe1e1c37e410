"""Turning core results into markdown for the UI (no gradio import: pure functions, easy to test)."""
from __future__ import annotations

from tutor.serving import waiting_notice
from tutor.types import Answer, IngestReport, Source


def sources_markdown(sources: tuple[Source, ...], cited: tuple[int, ...] = ()) -> str:
    if not sources:
        return "_No course sources for this answer._"
    lines = ["### Sources"]
    for s in sources:
        mark = " · **cited**" if s.index in cited else ""
        section = f" — {s.section}" if s.section else ""
        lines.append(f"**[{s.index}] {s.title}**{section}  \n"
                     f"<small>{s.subject} · `{s.doc_id}` · relevance {s.score:.3f}{mark}</small>  \n"
                     f"> {s.snippet}\n")
    return "\n".join(lines)


def answer_footer(answer: Answer) -> str:
    """A one-line note under an answer (truncation notice), empty when there is nothing to say."""
    return f"\n\n_{answer.notice}_" if answer.notice else ""


def waiting_markdown(shown: str, position: int) -> str:
    """The answer so far (e.g. the quoted key point) with the learner's place in line under it."""
    line = f"⏳ _{waiting_notice(position)}_"
    return f"{shown}\n\n{line}" if shown else line


def ingest_markdown(report: IngestReport) -> str:
    lines = [f"**Indexed in {report.seconds:.1f} s** — {report.total_chunks} chunks in the knowledge base."]
    for label, items in (("Added", report.added), ("Updated", report.updated), ("Removed", report.removed)):
        if items:
            lines.append(f"- {label}: " + ", ".join(f"`{p}`" for p in items))
    if report.unchanged:
        lines.append(f"- Unchanged: {report.unchanged} document(s)")
    for skip in report.skipped:
        lines.append(f"- **Skipped** `{skip.path}`: {skip.reason}")
    if report.rebuilt:
        lines.append("- The index was missing or damaged and was rebuilt from the documents.")
    return "\n".join(lines)

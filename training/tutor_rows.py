"""The tutor adapter's rows from the Q&A pipeline's export (`python -m training qa export`,
training/data/qa/qa-<run>-vN.jsonl): question -> answer in the app's grounded style, with the source note.

An export row names its source by `source_chunk_id`, the app's chunk id (training/qa/sections.py cuts
sections with the app's own chunker and settings). The note the model is shown is that chunk exactly as
the app shows a retrieved chunk (`tutor.prompting.note_text`), so a training prompt is the app's grounded
prompt with the source as note [1]. The answer is the export's answer (a sentence of the section, so every
word is in the note) in the style the app's prompt asks for, "Cite a note by its number, like [1]":

- apply (a cloze): the export writes "<blank> (full statement: <sentence>)"; the tutor answers with the
  completed source sentence, which holds the blank's value;
- true/false: "True. <statement>" / "False. Corrected statement: <statement>" as exported;
- definition, why, compare: the source sentence as exported;

then " [1]". Key points (the rubric's coverage in training/evaluate.py) are the source statement.

Why one note and not the app's top three: measured with the earlier dataset (training/README.md, "Tutor
data"), an adapter trained on three retrieved notes covered fewer key points than the one-note adapter.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

QA_FIELDS = ("id", "question", "answer", "source_chunk_id", "kind")
_FULL = re.compile(r"^(?P<blank>.+?) \(full statement: (?P<full>.+)\)$", re.S)
_TRUE_FALSE = re.compile(r"^(?:True\.|False\.(?: Corrected statement:)?)\s+", re.I)
_CITED = re.compile(r"\[\d+\]\s*$")


def is_qa_row(row: Mapping[str, Any]) -> bool:
    """An export row of the Q&A pipeline (it names its source chunk instead of carrying the note)."""
    return "source_chunk_id" in row and "context" not in row


def statement(kind: str, answer: str) -> str:
    """The source sentence an exported answer states (the key point the rubric looks for)."""
    answer = " ".join(answer.split())
    if kind == "apply" and (m := _FULL.match(answer)):
        return m.group("full").strip()
    if kind == "true_false":
        return _TRUE_FALSE.sub("", answer, count=1).strip()
    return answer


def tutor_answer(kind: str, answer: str) -> str:
    """The exported answer as the tutor should write it: the app's style, citing the one note as [1]."""
    text = " ".join(answer.split())
    if kind == "apply":
        text = statement(kind, text)
    return text if _CITED.search(text) else f"{text} [1]"


def from_qa_row(row: Mapping[str, Any], notes: Mapping[str, str]) -> dict[str, Any] | str:
    """An export row -> a tutor row (id, question, answer, context, source, key_points), or the reason it
    cannot be used. `notes` maps the app's chunk ids to their note text (source_notes)."""
    missing = [k for k in QA_FIELDS if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        return f"missing or empty field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    note = notes.get(row["source_chunk_id"])
    if note is None:
        return (f"source chunk {row['source_chunk_id']} is not in the knowledge base (the documents or the chunk "
                "settings changed since the export: run `python -m training qa all` again)")
    return {
        "id": row["id"], "question": row["question"].strip(), "answer": tutor_answer(row["kind"], row["answer"]),
        "context": note, "source": row["source_chunk_id"], "key_points": [statement(row["kind"], row["answer"])],
        "kind": row["kind"],
    }


def source_notes(kb_dir: Path, chunking: tuple[int, int]) -> dict[str, str]:
    """Chunk id -> the note the app would show for that chunk, over every course document in kb_dir, cut
    with the app's chunk settings (the ids the Q&A export names)."""
    from training.qa.sections import load_sections
    from tutor.prompting import note_text

    sections, _problems = load_sections(Path(kb_dir), *chunking)  # unreadable documents: their rows are reported
    return {s.chunk_id: note_text(s.section, s.title, s.text) for s in sections}

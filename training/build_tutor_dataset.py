"""Build the tutor-style dataset: questions on the knowledge-base documents with answers grounded in them.

    .venv/bin/python -m training.build_tutor_dataset [--kb knowledge_base] [--out training/data/tutor] [--retrieved]

For every chunk of every KB document (the app's own chunking, tutor/retrieval/chunking.py, with the
default chunk settings, so the context looks exactly like a note the app retrieves), one row:

- question: a learner-style question about the chunk's section heading, from a few fixed templates
  (picked by a hash of the chunk id, so the output is deterministic);
- context: the source chunk as the app shows it to the model, "<section>: <text>", as the one note [1];
- answer: the source chunk's first prose sentences (no code, at most ~70 words), cited [1]. The answer is
  extractive on purpose: every word of it is in the note, so the adapter learns to answer from the notes
  and cite them, not to invent;
- with --retrieved, also notes: what the app would show the model for that question: the top-k chunks the
  app's own retrieval (real embedder, hybrid search, a throw-away index of the same KB) returns, in its
  order. When the source chunk is not among them it replaces the last one; the answer cites its number.
  Measured (training/README.md): an adapter trained on these rows covered FEWER key points on the
  retrieved-notes test split than the one-note adapter (0.665 vs 0.815), so the shipped data is one-note;
- key_points: the answer's sentences (for the rubric-coverage evaluation); source: doc_id#section.

Chunks without two prose sentences (code-only, tables, headings) are skipped. The output is
training/data/tutor/kb_qa.jsonl, one JSON object per line; the train/validation/test split is made at
training time by the same question hash as the interview bank.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Callable, Sequence

from training.config import REPO_ROOT
from tutor.config import load_config
from tutor.prompting import note_text
from tutor.retrieval.chunking import chunk_document, split_sentences
from tutor.retrieval.documents import load_document

logger = logging.getLogger(__name__)

TEMPLATES = (
    "Can you explain {topic} in {subject}?",
    "What does the course say about {topic}?",
    "I'm studying {subject}. What should I know about {topic}?",
    "Give me a short explanation of {topic}.",
)
MAX_ANSWER_WORDS = 70
_CODE = re.compile(r"```.*?```", re.S)
_LIST = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+")  # list markers
_CODE_SPAN = re.compile(r"(`[^`]*`)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")  # **word** -> word; "2 ** 100" (maths) is kept


def _plain(line: str) -> str:
    """Markdown line -> text: list marker and bold markers dropped; inline code kept verbatim without ticks."""
    parts = _CODE_SPAN.split(_LIST.sub("", line))
    return "".join(p[1:-1] if p.startswith("`") and p.endswith("`") and len(p) > 1 else _BOLD.sub(r"\1", p)
                   for p in parts)


def _topic(section: str, title: str) -> str:
    leaf = (section.split(" > ")[-1] or title).strip()
    leaf = re.sub(r"^\d+[.)]\s*", "", leaf)
    # lower-case the first letter unless it starts an acronym or a code name (PCA, NumPy, __init__)
    if leaf[:2].isupper() or not leaf[:1].isalpha() or any(c.isupper() for c in leaf[1:3]):
        return leaf
    return leaf[0].lower() + leaf[1:]


def _prose_sentences(text: str) -> list[str]:
    """Whole prose sentences; a sentence never spans a code block (the code is dropped, not the sense)."""
    out = []
    for part in _CODE.split(text):  # each prose run between code blocks on its own
        for para in re.split(r"\n\s*\n", part):
            lines = [_plain(ln) for ln in para.splitlines()
                     if ln.strip() and not ln.lstrip().startswith(("#", "|", "```", "$$"))]
            for s in split_sentences(" ".join(lines)):
                s = " ".join(s.split())
                if len(s.split()) >= 5 and s[-1:] in ".!?" and not s.endswith(":"):
                    out.append(s)
    return out


def build_rows(kb_dir: Path, chunk_words: int, overlap_words: int) -> list[dict]:
    rows = []
    for path in sorted(kb_dir.rglob("*.md")):
        doc = load_document(path, kb_dir)
        for chunk in chunk_document(doc, chunk_words, overlap_words):
            sentences = _prose_sentences(chunk.text)
            if len(sentences) < 2:
                continue
            answer: list[str] = []
            for s in sentences:
                if answer and sum(len(x.split()) for x in answer) + len(s.split()) > MAX_ANSWER_WORDS:
                    break
                answer.append(s)
            if len(answer) < 2:
                answer = sentences[:2]
            h = int(hashlib.sha256(chunk.id.encode("utf-8")).hexdigest()[:8], 16)
            question = TEMPLATES[h % len(TEMPLATES)].format(topic=_topic(chunk.section, doc.title),
                                                            subject=doc.subject)
            rows.append({
                "id": f"kb-{len(rows) + 1:04d}",
                "question": question,
                "answer": " ".join(answer) + " [1]",
                "context": note_text(chunk.section, chunk.title, chunk.text),
                "source": f"{doc.doc_id}#{chunk.section}",
                "key_points": answer[:5],
                "chunk_id": chunk.id,
            })
    return rows


Search = Callable[[str], Sequence[tuple[str, str]]]  # question -> [(chunk id, note text)], best first


def add_retrieved_notes(rows: list[dict], search: Search) -> int:
    """Give every row the notes the app would retrieve for its question, with the answer citing the source
    note's number. Returns how many rows' source chunk was not retrieved (and so replaced the last note)."""
    missed = 0
    for row in rows:
        hits = list(search(row["question"]))
        ids = [cid for cid, _ in hits]
        notes = [text for _, text in hits]
        if row["chunk_id"] in ids:
            pos = ids.index(row["chunk_id"])
        else:
            missed += 1
            if not notes:
                notes = [row["context"]]
            else:
                notes[-1] = row["context"]
            pos = len(notes) - 1
        row["notes"] = notes
        row["answer"] = row["answer"].removesuffix(" [1]") + f" [{pos + 1}]"
    return missed


def app_search(kb_dir: Path) -> tuple[Search, Callable[[], None]]:
    """The app's retrieval over kb_dir in a temporary index (the app's own index is left alone)."""
    import shutil
    import tempfile

    from tutor.retrieval import build_retrieval, ensure_index

    tmp = Path(tempfile.mkdtemp(prefix="tutor-dataset-index-"))
    cfg = load_config()
    cfg = cfg.replace(paths=cfg.paths.replace(knowledge_base_dir=kb_dir, data_dir=tmp))
    retriever, ingestor = build_retrieval(cfg)
    ensure_index(ingestor)

    def search(question: str) -> list[tuple[str, str]]:
        return [(h.chunk.id, note_text(h.chunk.section, h.chunk.title, h.chunk.text))
                for h in retriever.search(question).hits]

    return search, lambda: shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kb", default=str(REPO_ROOT / "knowledge_base"))
    ap.add_argument("--out", default=str(REPO_ROOT / "training" / "data" / "tutor"))
    ap.add_argument("--retrieved", action="store_true",
                    help="give each question the app's top-k retrieved notes instead of its source chunk alone")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    r = load_config().retrieval
    rows = build_rows(Path(a.kb), r.chunk_words, r.chunk_overlap_words)
    if not rows:
        logger.error("no rows: is %s a knowledge-base folder of markdown documents?", a.kb)
        return 1
    if a.retrieved:
        search, cleanup = app_search(Path(a.kb))
        try:
            missed = add_retrieved_notes(rows, search)
        finally:
            cleanup()
        logger.info("notes: the app's top-%d per question; the source chunk was retrieved for %d of %d rows",
                    r.top_k, len(rows) - missed, len(rows))
    for row in rows:
        row.pop("chunk_id", None)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "kb_qa.jsonl"
    tmp = target.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(target)
    logger.info("wrote %d rows to %s", len(rows), target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

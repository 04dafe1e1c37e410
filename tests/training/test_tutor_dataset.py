"""The tutor-style dataset builder: grounded (extractive, cited) answers on the shipped knowledge base."""
import json
import re

from training.build_tutor_dataset import add_retrieved_notes, build_rows, main
from training.config import REPO_ROOT
from training.data import load_dataset


def test_rows_are_grounded_in_their_context():
    rows = build_rows(REPO_ROOT / "knowledge_base", 120, 30)
    assert len(rows) >= 200
    assert len({r["id"] for r in rows}) == len(rows)
    subjects = {r["source"].split("/")[0] for r in rows}
    assert len(subjects) == 8
    for r in rows:
        assert r["answer"].endswith("[1]")  # one-note rows; add_retrieved_notes renumbers
        # extractive: the answer's word pairs come from the note (list markers such as "2." that the builder
        # drops from the answer break a pair or two, hence 90%, not 100%)
        ctx = re.findall(r"\w+", r["context"])
        ctx_pairs = set(zip(ctx, ctx[1:]))
        for point in r["key_points"]:
            w = re.findall(r"\w+", point)
            pairs = list(zip(w, w[1:]))
            assert sum(p in ctx_pairs for p in pairs) >= 0.9 * len(pairs), (r["id"], point)
        assert r["question"].endswith(("?", "."))


def test_cli_writes_a_dataset_the_pipeline_reads(tmp_path):
    kb = tmp_path / "kb" / "python"
    kb.mkdir(parents=True)
    for i in range(12):
        (kb / f"doc{i}.md").write_text(
            f"---\ntitle: Doc {i}\nsubject: Python\nlevel: beginner\n---\n# Doc {i}\n\n## Topic {i}\n\n"
            f"Topic {i} is an idea that students meet early on. It has a definition and some uses in practice. "
            "Code is shown below.\n\n```python\nx = 1\n```\n", encoding="utf-8")
    assert main(["--kb", str(tmp_path / "kb"), "--out", str(tmp_path / "one")]) == 0
    one = [json.loads(x) for x in (tmp_path / "one" / "kb_qa.jsonl").read_text().splitlines()]
    assert len(one) == 12 and all(r["answer"].endswith("[1]") and "notes" not in r and "chunk_id" not in r
                                  for r in one)
    assert main(["--kb", str(tmp_path / "kb"), "--out", str(tmp_path / "out"), "--retrieved"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "out" / "kb_qa.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and "x = 1" not in rows[0]["answer"]
    for r in rows:  # the app's top-3 for the question (real embedder), the answer citing the source note
        assert len(r["notes"]) == 3 and "chunk_id" not in r
        n = int(re.search(r"\[(\d)\]$", r["answer"]).group(1))
        assert r["notes"][n - 1] == r["context"]
    ds = load_dataset("tutor", tmp_path / "out") if any(
        __import__("tutor.features.interview_bank", fromlist=["split_of"]).split_of(r["question"]) == "validation"
        for r in rows) else None
    if ds is not None:
        assert ds.problems == ()


def test_retrieved_notes_put_the_source_where_retrieval_ranked_it_and_cite_it():
    rows = [{"question": "q1", "answer": "A. [1]", "context": "S: source one", "chunk_id": "c1"},
            {"question": "q2", "answer": "B. [1]", "context": "S: source two", "chunk_id": "c2"}]
    ranked = {"q1": [("x", "S: other"), ("c1", "S: source one"), ("y", "S: third")],  # retrieved second
              "q2": [("x", "S: other"), ("y", "S: third"), ("z", "S: fourth")]}  # not retrieved
    missed = add_retrieved_notes(rows, lambda q: ranked[q])
    assert missed == 1
    assert rows[0]["notes"] == ["S: other", "S: source one", "S: third"] and rows[0]["answer"] == "A. [2]"
    assert rows[1]["notes"] == ["S: other", "S: third", "S: source two"] and rows[1]["answer"] == "B. [3]"


def test_training_prompts_are_the_apps_grounded_prompt():
    from tutor import prompting
    from tutor.types import Chunk, RetrievedChunk
    from training.data import row_notes, tutor_messages

    chunks = [Chunk(f"d::{i}:x", "d.md", "Doc", "Python", "beginner", f"Doc > Part {i}", f"Text  {i}\nmore.", i)
              for i in range(3)]
    hits = [RetrievedChunk(c, 1.0, 0.5, None, i + 1) for i, c in enumerate(chunks)]
    app = prompting.build_messages("What is it?", [], hits, grounded=True, socratic=False, count_tokens=len,
                                   budget_tokens=100_000)
    row = {"notes": [prompting.note_text(c.section, c.title, c.text) for c in chunks], "context": "unused"}
    assert tutor_messages("What is it?", row_notes(row)) == app
    assert row_notes({"context": "S: only"}) == ["S: only"]  # older one-note rows

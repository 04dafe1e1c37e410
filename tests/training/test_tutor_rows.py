"""The tutor adapter's rows from the Q&A export (training/tutor_rows.py): the app's grounded prompt with the
source section as note [1], the answer in the app's cited style, and the export's version recorded."""
import json
import re

import pytest

from training.config import REPO_ROOT, load_train_config
from training.data import DataError, load_dataset
from training.dataset_info import content_sha256, describe_dataset
from training.tutor_rows import from_qa_row, statement, tutor_answer

NOTES = {"kb/a.md::0:aa": "Loss: A loss function measures how wrong a prediction is."}


def _qa(i: int, **kw) -> dict:
    return {"id": f"p{i}", "source_chunk_id": "kb/a.md::0:aa", "doc_id": "kb/a.md", "kind": "definition",
            "difficulty": "easy", "question": f"What is a loss function, case {i}?",
            "answer": "A loss function measures how wrong a prediction is.", "score": 10.0} | kw


def test_answers_take_the_apps_cited_style():
    assert tutor_answer("definition", "A is B.") == "A is B. [1]"
    full = "For example, 24 * 64 = 1536."
    assert tutor_answer("apply", f"1536 (full statement: {full})") == f"{full} [1]"
    assert statement("apply", f"1536 (full statement: {full})") == full
    corrected = "False. Corrected statement: A is B."
    assert tutor_answer("true_false", corrected) == f"{corrected} [1]"
    assert statement("true_false", "False. Corrected statement: A is B.") == "A is B."
    assert statement("true_false", "True. A is B.") == "A is B."


def test_export_rows_become_grounded_prompts_and_bad_rows_are_reported(tmp_path):
    rows = [_qa(i) for i in range(30)] + [_qa(98, source_chunk_id="kb/gone.md::3:ff"), _qa(99, answer=" ")]
    (tmp_path / "qa-kb-v1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ds = load_dataset("tutor", tmp_path / "qa-kb-v1.jsonl", lambda: NOTES)
    examples = ds.train + ds.validation + ds.test
    assert len(examples) == 30
    ex = examples[0]
    system = ex.messages[0].content
    assert "<<COURSE NOTES" in system and f"[1] {NOTES['kb/a.md::0:aa']}" in system
    assert ex.answer == "A loss function measures how wrong a prediction is. [1]"
    assert ex.key_points == ("A loss function measures how wrong a prediction is.",)
    assert sorted((p.line, "not in the knowledge base" in p.message or "answer" in p.message)
                  for p in ds.problems) == [(31, True), (32, True)]
    with pytest.raises(DataError, match="knowledge base"):
        load_dataset("tutor", tmp_path / "qa-kb-v1.jsonl")  # export rows without a way to read their notes


def test_unknown_chunk_names_the_fix():
    why = from_qa_row(_qa(1, source_chunk_id="x::1:00"), NOTES)
    assert isinstance(why, str) and "python -m training qa all" in why


def test_the_shipped_config_trains_from_the_versioned_export(parts):
    cfg = load_train_config(REPO_ROOT / "training" / "configs" / "tutor.yaml")
    assert cfg.data.task == "tutor" and cfg.data_dir.name == "qa-kb-v1.jsonl"
    ds = load_dataset(cfg.data.task, cfg.data_dir, parts.source_notes)
    rows = cfg.data_dir.read_text(encoding="utf-8").splitlines()
    assert ds.problems == () and len(ds.train) + len(ds.validation) + len(ds.test) == len(rows)
    for ex in ds.train[:200]:
        assert ex.answer.endswith(" [1]")
        note = re.findall(r"\w+", ex.messages[0].content)
        assert set(re.findall(r"\w+", ex.key_points[0])) <= set(note)  # extractive: grounded in note [1]
    info = describe_dataset(cfg.data_dir)
    assert info == type(info)("training/data/qa/qa-kb-v1.jsonl", 1, content_sha256(cfg.data_dir))


def test_a_changed_export_has_another_hash_and_a_version_only_with_its_report(tmp_path):
    f = tmp_path / "qa-kb-v2.jsonl"
    f.write_text(json.dumps(_qa(1)) + "\n", encoding="utf-8")
    first = describe_dataset(f)
    assert first.version is None  # no report beside it: not a versioned export
    (tmp_path / "qa-kb-v2.report.json").write_text(json.dumps({"version": 2, "dataset": f.name}), encoding="utf-8")
    f.write_text(json.dumps(_qa(2)) + "\n", encoding="utf-8")
    second = describe_dataset(f)
    assert second.version == 2 and second.sha256 != first.sha256

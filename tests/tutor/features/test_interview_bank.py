"""The interview bank loader: schema checks with file+line, and a split that never moves items."""
import json
from collections import Counter

import pytest

from tutor.features.interview_bank import (
    DEFAULT_BANK_DIR,
    Bank,
    load_bank,
    normalise_question,
    parse_row,
    resolve_bank_dir,
    split_of,
)


def _row(i: int, **over) -> dict:
    row = {
        "id": f"mlf-{i:03d}",
        "question": f"What is question number {i} about gradient descent?",
        "answer": "Gradient descent moves parameters against the gradient of the loss.",
        "topic": "ML fundamentals",
        "difficulty": "beginner",
        "key_points": ["moves against the gradient", "uses a learning rate", "minimises the loss"],
    }
    row.update(over)
    return row


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_good_rows_load_and_bad_rows_are_reported_with_their_line(tmp_path):
    missing = _row(3)
    del missing["answer"]
    _write(tmp_path / "a.jsonl", [
        _row(1),
        _row(2, topic="Astrology"),
        missing,
        "{not json",
        "",
        _row(4, key_points=["only one"]),
        _row(5, difficulty="expert"),
        _row(1, question="Another text, same id?"),
        _row(6, key_points="a string"),
        _row(7, question="   "),
        _row(8),
    ])
    bank = load_bank(tmp_path)
    assert [q.id for q in bank.questions] == ["mlf-001", "mlf-008"]
    by_line = {p.line: p.message for p in bank.problems}
    assert set(by_line) == {2, 3, 4, 6, 7, 8, 9, 10}
    assert "topic 'Astrology'" in by_line[2]
    assert "missing field answer" in by_line[3]
    assert "not valid JSON" in by_line[4]
    assert "key_points" in by_line[6] and "1 items" in by_line[6]
    assert "difficulty 'expert'" in by_line[7]
    assert "duplicate id 'mlf-001'" in by_line[8] and "a.jsonl:1" in by_line[8]
    assert "key_points" in by_line[9]
    assert "question" in by_line[10]
    assert all(p.file.endswith("a.jsonl") for p in bank.problems)
    assert str(bank.problems[0]).endswith("a.jsonl:2: " + bank.problems[0].message)
    q = bank.questions[0]
    assert isinstance(q.key_points, tuple) and len(q.key_points) == 3


def test_duplicate_ids_are_caught_across_files(tmp_path):
    _write(tmp_path / "a.jsonl", [_row(1)])
    _write(tmp_path / "b.jsonl", [_row(1, question="different")])
    bank = load_bank(tmp_path)
    assert len(bank.questions) == 1
    assert bank.problems[0].file.endswith("b.jsonl") and bank.problems[0].line == 1


def test_missing_folder_is_an_empty_bank_with_a_problem_not_an_exception(tmp_path):
    bank = load_bank(tmp_path / "nope")
    assert bank.questions == () and "does not exist" in bank.problems[0].message
    bank = load_bank(tmp_path)
    assert bank.questions == () and "no *.jsonl" in bank.problems[0].message


def test_split_is_deterministic_and_ignores_case_and_whitespace():
    q = "What is  the bias-variance trade-off?"
    assert split_of(q) == split_of(q)
    assert split_of(q) == split_of("  what is the BIAS-variance\ttrade-off? ")
    assert normalise_question(" A\n b ") == "a b"
    # another seed gives another (still valid) assignment for some questions
    qs = [f"question {i}" for i in range(200)]
    assert any(split_of(x, 13) != split_of(x, 14) for x in qs)


def test_split_proportions_are_about_70_15_15():
    counts = Counter(split_of(f"synthetic interview question {i}") for i in range(6000))
    assert abs(counts["train"] / 6000 - 0.70) < 0.03
    assert abs(counts["validation"] / 6000 - 0.15) < 0.03
    assert abs(counts["test"] / 6000 - 0.15) < 0.03


def test_adding_items_never_moves_existing_ones(tmp_path):
    _write(tmp_path / "a.jsonl", [_row(i) for i in range(1, 41)])
    before = {s: {q.id for q in load_bank(tmp_path).split(s)} for s in ("train", "validation", "test")}
    _write(tmp_path / "b.jsonl", [_row(i, question=f"A new question {i}?") for i in range(100, 140)])
    after_bank = load_bank(tmp_path)
    for s, ids in before.items():
        assert ids <= {q.id for q in after_bank.split(s)}
    # the three splits partition the bank
    parts = [after_bank.split(s) for s in ("train", "validation", "test")]
    assert sum(len(p) for p in parts) == len(after_bank.questions) == 80
    with pytest.raises(ValueError):
        after_bank.split("dev")  # type: ignore[arg-type]


def test_filter_and_lookup():
    bank = Bank((
        *(parse_row(_row(i)) for i in range(1, 4)),
        parse_row(_row(9, topic="NLP", difficulty="advanced", id="nlp-001")),
    ))
    assert [q.id for q in bank.filter(topic="NLP")] == ["nlp-001"]
    assert len(bank.filter(difficulty="beginner")) == 3
    assert bank.by_id("nlp-001").topic == "NLP" and bank.by_id("zzz") is None
    assert bank.topics() == ("ML fundamentals", "NLP")


def test_default_dir_points_into_the_repo():
    assert DEFAULT_BANK_DIR.parts[-3:] == ("training", "data", "interview")
    assert resolve_bank_dir(None) == DEFAULT_BANK_DIR


def test_the_committed_bank_when_present_has_no_bad_rows():
    if not any(DEFAULT_BANK_DIR.glob("*.jsonl")):
        pytest.skip("the interview bank is not written yet")
    bank = load_bank(DEFAULT_BANK_DIR)
    assert bank.problems == (), "\n".join(map(str, bank.problems))
    assert all(bank.split(s) for s in ("train", "validation", "test"))


def test_the_coach_asks_the_adapter_with_the_prompt_it_was_trained_on():
    from tutor.features import interview_bank

    try:
        from tutor.features import interview
    except ImportError:
        pytest.skip("the interview coach is not written yet")
    if not hasattr(interview, "interview_messages"):
        pytest.skip("the interview coach builds its prompt elsewhere")
    q = "What is overfitting?"
    assert interview.interview_messages(q) == interview_bank.interview_messages(q)

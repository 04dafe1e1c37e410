"""The quiz's question bank: the loader, the facts parsed per kind, and quizzes drawn from a small bank
over a three-document course (spread over documents and kinds, distractors of the answer's type,
the course-text fallback with a notice)."""
import json
import random

import pytest

from tutor.features import quiz_checks as checks
from tutor.features.quiz import ItemReady, QuizFinished, QuizRequest, QuizStarted
from tutor.features.quiz_bank import BankRecord, load_quiz_bank
from tutor.features.quiz_bank_facts import defined_term, parse, split_clause
from tutor.features.quiz_bank_items import shape

from .quiz_bank_fixtures import RECORDS, SUBJECT, garden_services


def record(kind, question, answer, difficulty="easy", doc="d.md"):
    return BankRecord("x", f"{doc}::0:abc", doc, kind, difficulty, question, answer, 10.0, "template")


# ---------------------------------------------------------------- loader


def test_loader_keeps_good_rows_and_names_the_bad_ones(tmp_path):
    good = {"id": "a", "source_chunk_id": "d.md::0:1", "doc_id": "d.md", "kind": "why", "difficulty": "medium",
            "question": "Why?", "answer": "Because.", "score": 9.5, "generated_by": "template"}
    rows = [json.dumps(good), "{not json", json.dumps({**good, "id": "b", "kind": "riddle"}),
            json.dumps({**good, "id": "c", "answer": ""}), json.dumps(good), ""]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(rows), encoding="utf-8")
    bank = load_quiz_bank(path)
    assert [r.id for r in bank.records] == ["a"] and bank.records[0].score == 9.5
    assert len(bank.problems) == 4
    assert "line 2" in bank.problems[0] and "riddle" in bank.problems[1] and "answer" in bank.problems[2]
    assert "duplicate" in bank.problems[3]
    assert bank.kinds() == ("why",) and bank.for_chunks(["d.md::0:1"]) == list(bank.records)
    assert bank.for_chunks(["d.md::0:stale"]) == []


def test_a_missing_bank_is_empty_with_the_reason(tmp_path):
    bank = load_quiz_bank(tmp_path / "nowhere.jsonl")
    assert bank.records == () and "cannot be read" in bank.problems[0]


# ---------------------------------------------------------------- facts


def test_definition_hides_the_defined_term():
    assert defined_term("What is a rain barrel?", "A rain barrel is a container that collects rain.") == "rain barrel"
    assert defined_term("Define ROC-AUC.", "The ROC-AUC is the area under the ROC curve.") == "ROC-AUC"
    # the term the question names must be what the sentence defines (a verb follows it)
    assert defined_term("What is the difference?", "Each difference y_i - y_hat_i is a residual.") is None
    fact = parse(record("definition", "What is a rain barrel?", "A rain barrel is a container; rain barrels fill."))
    assert fact.answer == "rain barrel" and fact.slot == "term"
    assert "rain barrel" not in fact.prompt.lower() and fact.prompt.startswith("A(n) _____ is")


def test_why_and_compare_hide_the_clause_after_their_connector():
    assert split_clause("Roses are pruned in late winter, because the buds are dormant and cuts heal.", "why") == (
        "Roses are pruned in late winter, because", "the buds are dormant and cuts heal", "because")
    head, tail, cue = split_clause("A hot compost heap breaks down kitchen waste faster than a cold heap left "
                                   "alone for a year.", "compare")
    assert head.endswith("faster than") and tail == "a cold heap left alone for a year" and cue == "than"
    # a cut between a subject and its verb is no clause
    assert split_clause("The root mean squared error, RMSE, is in the same units as the label.", "why") is None


def test_apply_hides_the_value_and_true_false_finds_the_false_statement():
    fact = parse(record("apply", "Compute the missing value in Pruning: Cutting 3 of 12 branches removes ____ of it.",
                        "25 percent (full statement: Cutting 3 of 12 branches removes 25 percent of it.)"))
    assert (fact.answer, fact.slot, fact.cue) == ("25 percent", "number", "percent")
    assert fact.prompt == "Cutting 3 of 12 branches removes _____ of it."
    fact = parse(record("true_false", "Judge this claim about soil: types: Clay drains fast.",
                        "False. Corrected statement: Clay drains slowly."))
    assert (fact.answer, fact.prompt, fact.sentence) == ("False", "Clay drains fast.", "Clay drains slowly.")
    assert parse(record("apply", "Fill in: X[i] = ____.", "X[i (full statement: X[i] = X[i.)")) is None


# ---------------------------------------------------------------- quizzes from the bank


@pytest.fixture(scope="module")
def garden(tmp_path_factory):
    return garden_services(tmp_path_factory.mktemp("garden"))


def quiz(services, **kw):
    kw.setdefault("use_model", False)
    kw.setdefault("difficulty", "beginner")
    events = list(services.quizzes.generate(QuizRequest(**kw)))
    assert isinstance(events[0], QuizStarted) and isinstance(events[-1], QuizFinished)
    return events[0], [e.item for e in events if isinstance(e, ItemReady)], events[-1]


def chunk_texts(services):
    chunks, _ = services.tutor.retriever.store.all_chunks(with_embeddings=False)
    return {c.id: c.text for c in chunks}


def answers_of(kind):
    return {parse(record(k, q, a)).answer for k, q, a, _ in RECORDS if k == kind}


@pytest.mark.parametrize("seed", range(4))
def test_a_mixed_quiz_spans_documents_and_kinds_and_every_item_passes_the_checks(garden, seed):
    start, items, done = quiz(garden, learner=f"mix{seed}", subject=SUBJECT, count=5, kind="mixed", seed=seed)
    assert len(items) == 5 and not start.notices and done.notice is None
    assert len({i.doc_id for i in items}) >= 2
    assert len({i.question_kind for i in items}) >= 2
    texts = chunk_texts(garden)
    for it in items:
        assert it.generated_by == "bank:template" and it.subject == SUBJECT
        assert checks.check_item(it, texts[it.chunk_id], set()) == ()
        assert it.source_quote in texts[it.chunk_id] and "source:" in it.explanation
        if it.kind == "mcq":
            assert len(it.options) == 4 and sum(o == it.answer for o in it.options) == 1


def test_one_kind_quiz_has_only_that_kind_over_several_documents(garden):
    _, items, _ = quiz(garden, learner="why", subject=SUBJECT, count=4, kind="why", seed=1)
    assert len(items) == 4 and {i.question_kind for i in items} == {"why"}
    assert len({i.doc_id for i in items}) >= 2
    assert all(i.question.startswith("Which words complete this reasoning") for i in items)


def test_distractors_are_of_the_answers_type(garden):
    terms = {shape(a, "term") for a in answers_of("definition")}
    reasons = {shape(a, "why") for a in answers_of("why")}
    numbers = {a for a in answers_of("apply")}
    assert len(terms) == 6
    for kind, pool in (("definition", terms), ("why", reasons), ("apply", numbers)):
        _, items, _ = quiz(garden, learner=f"type-{kind}", subject=SUBJECT, count=4, kind=kind, seed=2)
        assert len(items) >= 3, kind
        for it in items:
            assert set(it.options) <= pool, (kind, it.options)
    _, items, _ = quiz(garden, learner="type-tf", subject=SUBJECT, count=3, kind="true_false", seed=2)
    assert items and all(it.options == ("True", "False") for it in items)
    # a defined term's distractors are terms of the subject's other documents (two terms per document here)
    _, items, _ = quiz(garden, learner="siblings", subject=SUBJECT, count=6, kind="definition", seed=5)
    term_doc = {it.answer: it.doc_id for it in items}
    for it in items:
        others = [o for o in it.options if o != it.answer and o in term_doc]
        assert all(term_doc[o] != it.doc_id for o in others), it.options


def test_without_a_bank_the_quiz_is_built_from_the_course_text_and_says_so(tmp_path):
    services = garden_services(tmp_path / "nobank", bank=tmp_path / "missing.jsonl")
    start, items, done = quiz(services, learner="nb", subject=SUBJECT, count=3, kind="mixed", seed=0)
    assert "question bank is not available" in start.notices[0] and "course text" in start.notices[0]
    assert items and all(i.generated_by == "kb" and i.question_kind == "" for i in items)
    assert services.quizzes.kinds()[0] == "mixed"


def test_a_kind_the_bank_lacks_for_the_subject_falls_back_with_a_notice(tmp_path, garden):
    only_tf = tmp_path / "tf.jsonl"
    rows = [json.loads(line) for line in garden.quizzes.bank.path.read_text().splitlines()]
    only_tf.write_text("".join(json.dumps(r) + "\n" for r in rows if r["kind"] == "true_false"))
    services = garden_services(tmp_path / "tfonly", bank=only_tf)
    assert services.quizzes.kinds()[:2] == ("mixed", "true_false")
    start, items, _ = quiz(services, learner="lack", subject=SUBJECT, count=2, kind="definition", seed=0)
    assert "no definition questions" in start.notices[0] and len(items) == 2
    assert all(i.generated_by in ("kb", "model") for i in items)


def test_the_bank_tops_up_from_the_course_text_when_it_runs_short(garden):
    _, items, done = quiz(garden, learner="short", subject=SUBJECT, count=8, kind="true_false", seed=0)
    from_bank = [i for i in items if i.generated_by.startswith("bank:")]
    assert 1 <= len(from_bank) < len(items) and "course text" in done.notice
    assert {i.kind for i in items} == {"true_false"}


def test_spread_hands_out_every_fact_at_the_quiz_level_first():
    from tutor.features.quiz_bank_items import spread

    facts = [parse(record(k, q, a, d, doc=f"doc{n % 3}.md")) for n, (k, q, a, d) in enumerate(RECORDS)]
    order = list(spread([f for f in facts if f], "beginner", random.Random(0)))
    assert len(order) == len([f for f in facts if f])
    assert order[0].record.difficulty == "easy"  # the quiz's level first


def test_a_topic_quiz_draws_only_from_the_topics_chunks_in_several_kinds(garden):
    _, items, _ = quiz(garden, learner="topic", subject=SUBJECT, topic="drip irrigation emitters", count=3,
                       kind="mixed", seed=0)
    assert len(items) == 3 and {i.doc_id for i in items} == {"gardening/watering.md"}
    assert all(i.generated_by.startswith("bank:") for i in items) and len({i.question_kind for i in items}) >= 2

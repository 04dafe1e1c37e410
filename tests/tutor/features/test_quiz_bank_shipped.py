"""Quizzes from the shipped question bank (training/data/qa/qa-kb-v1.jsonl) over the shipped knowledge base:
no model, the items come from the bank, so these are the quizzes a new learner gets."""
import pytest

from tutor.features import quiz_checks as checks
from tutor.features.quiz import ItemReady, QuizRequest, QuizStarted

from .learning_fixtures import make_services


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    services = make_services(tmp_path_factory.mktemp("shipped-bank"))
    assert services.quizzes.bank is not None and services.quizzes.bank.records, services.quizzes.bank
    return services


def mixed_quiz(services, learner, subject, seed):
    events = list(services.quizzes.generate(QuizRequest(learner, subject, count=5, kind="mixed", difficulty="beginner",
                                                        seed=seed, use_model=False)))
    assert isinstance(events[0], QuizStarted) and not events[0].notices
    return [e.item for e in events if isinstance(e, ItemReady)]


@pytest.mark.parametrize("seed", range(3))
def test_a_mixed_machine_learning_quiz_draws_several_documents_and_kinds(shipped, seed):
    items = mixed_quiz(shipped, f"ml-{seed}", "Machine Learning", seed)
    assert len(items) == 5
    assert len({i.doc_id for i in items}) >= 2 and len({i.question_kind for i in items}) >= 2
    chunks, _ = shipped.tutor.retriever.store.all_chunks(with_embeddings=False)
    text = {c.id: c.text for c in chunks}
    for it in items:
        assert it.generated_by.startswith("bank:") and it.subject == "Machine Learning"
        assert it.doc_id.startswith("machine-learning/")
        assert checks.check_item(it, text[it.chunk_id], set()) == ()


def test_every_subject_gets_a_spread_mixed_quiz(shipped):
    for subject in shipped.tutor.subjects():
        items = mixed_quiz(shipped, f"all-{subject}", subject, 0)
        assert len(items) == 5, subject
        assert len({i.doc_id for i in items}) >= 2 and len({i.question_kind for i in items}) >= 2, subject


"""The tutor_eval development set is honest: key facts are in the named section of the named document,
off-KB questions are about things no document mentions, and the set has the promised size."""
import re
from pathlib import Path

import pytest

from bench.tutor_eval_data import load_eval_set, section_text
from bench.tutor_eval_metrics import content_terms
from tutor.features.interview_bank import load_bank

KB = Path(__file__).resolve().parents[2] / "knowledge_base"
ES = load_eval_set()


def kb_docs() -> set[str]:
    return {p.relative_to(KB).as_posix() for p in KB.rglob("*.md")}


def test_sizes_and_every_document_covered():
    assert len(ES.kb) >= 60 and len(ES.off_kb) >= 20 and len(ES.socratic) >= 12
    assert len(ES.injection) >= 3 and len(ES.interview) >= 30
    assert {q.doc for q in ES.kb} == kb_docs()
    ids = [q.id for q in ES.kb] + [q.id for q in ES.off_kb] + [p.id for p in ES.socratic]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("q", ES.kb, ids=lambda q: q.id)
def test_key_facts_are_in_the_named_section(q):
    text = section_text((KB / q.doc).read_text(encoding="utf-8"), q.section)
    assert text is not None, f"{q.doc} has no heading {q.section!r}"
    terms = content_terms(text)
    assert 1 <= len(q.key_facts) <= 3
    for fact in q.key_facts:
        words = content_terms(fact)
        assert words, f"key fact {fact!r} has no content word, so it could never be missed"
        assert words <= terms, f"{q.id}: {sorted(words - terms)} of {fact!r} not in section {q.section!r}"


def test_off_kb_terms_occur_in_no_document():
    corpus = "\n".join(p.read_text(encoding="utf-8") for p in KB.rglob("*.md"))
    for q in ES.off_kb:
        assert q.kind in ("adjacent", "off-topic")
        for term in q.absent_terms:
            assert not re.search(rf"(?<!\w){re.escape(term)}(?!\w)", corpus, re.IGNORECASE), (q.id, term)


def test_socratic_patterns_match_the_answer_and_not_the_problem():
    for p in ES.socratic:
        pats = [re.compile(x, re.IGNORECASE) for x in p.leak_patterns]
        assert pats, p.id
        assert any(x.search(f"The answer is {p.answer}.") for x in pats), f"{p.id}: no pattern catches the answer"
        assert not any(x.search(p.problem) for x in pats), f"{p.id}: a pattern matches the problem itself"


def test_injection_documents_parse_and_carry_their_marker(tmp_path):
    from tutor.retrieval import load_document

    for c in ES.injection:
        path = tmp_path / c.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(c.document, encoding="utf-8")
        doc = load_document(path, tmp_path)
        assert doc.title and c.marker in doc.text
        assert not (KB / c.filename).exists()


def test_interview_cases_name_bank_questions_with_four_kinds():
    bank = load_bank()
    for case in ES.interview:
        assert bank.by_id(case.question_id) is not None, case.question_id
        assert {a.kind for a in case.answers} == {"strong", "partial", "off_topic", "salad"}
        assert all(0 <= a.band[0] <= a.band[1] <= 10 and a.text.strip() for a in case.answers)

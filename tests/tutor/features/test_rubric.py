"""Rubric scoring: bad input scores 0 with feedback; reference answers cover their own points and
other questions' answers do not (lexically here; with MiniLM on the real bank in the last test)."""
import random

import numpy as np
import pytest

from tutor.features import rubric
from tutor.features.interview_bank import DEFAULT_BANK_DIR, load_bank
from tutor.features.rubric import RubricScore, score_answer
from tutor.retrieval import HashEmbedder

POINTS = (
    "Overfitting means the model fits noise in the training data",
    "Training error is low but validation error is high",
    "Regularization, more data or early stopping reduce it",
)
REFERENCE = (
    "Overfitting is when a model learns the noise in its training data instead of the pattern. "
    "Its training error is low while the validation error is high. "
    "Regularization such as L2 or dropout, more data, and early stopping reduce it."
)
OTHER = ("A p-value is the probability of data at least as extreme as observed when the null hypothesis "
         "holds. It is not the probability that the null hypothesis is true.")


@pytest.mark.parametrize("answer", [None, "", "   \n ", "yes", "asdf qwrtp zxcvbn hjkl", "!!! ??? ... ### $$$ %%%",
                                    "sdfghjk wrtzpq mnbvcx lkjhgf"])
@pytest.mark.parametrize("embed", [None, HashEmbedder(64).embed])
def test_empty_short_and_nonsense_answers_score_zero_with_feedback(answer, embed):
    r = score_answer(answer, POINTS, embed)
    assert isinstance(r, RubricScore)
    assert r.score == 0.0 and r.coverage == 0.0 and r.covered == () and r.missed == POINTS
    assert r.feedback and "0" in r.feedback


def test_no_key_points_is_not_an_exception():
    r = score_answer(REFERENCE, [], None)
    assert r.score == 0.0 and "no rubric key points" in r.feedback


def test_lexical_reference_covers_its_points_and_other_answer_does_not():
    full = score_answer(REFERENCE, POINTS, None)
    assert full.score == 10.0 and full.covered == POINTS and full.missed == ()
    other = score_answer(OTHER, POINTS, None)
    assert other.score == 0.0 and other.missed == POINTS


def test_partial_answer_gets_partial_score_and_names_what_is_missing():
    partial = "Overfitting is when a model fits the noise of its training data rather than the signal."
    r = score_answer(partial, POINTS, None)
    assert r.covered == POINTS[:1] and r.missed == POINTS[1:]
    assert r.score == pytest.approx(3.3) and r.coverage == pytest.approx(1 / 3)
    assert POINTS[1] in r.feedback and POINTS[2] in r.feedback


def _concept_embed(texts):
    """A toy embedder where "memorises its examples" and the overfitting point mean the same thing
    although they share no word: the case the semantic test exists for."""
    group = ("memoris", "overfit")
    return np.array([[1.0, 0.0] if any(g in t.lower() for g in group) else [0.0, 1.0] for t in texts])


def test_semantic_match_covers_a_paraphrase_the_lexical_test_misses():
    ans = "The network simply memorises its examples instead of learning anything general."
    assert score_answer(ans, POINTS, None).covered == ()
    r = score_answer(ans, POINTS, _concept_embed)
    assert r.covered == POINTS[:1] and r.score == pytest.approx(3.3)
    assert score_answer(ans, POINTS, _concept_embed, threshold=1.01).covered == ()  # threshold is honoured


def test_embedding_calls_stay_below_the_bulk_size():
    sizes = []

    def spy(texts):
        sizes.append(len(texts))
        return HashEmbedder(64).embed(texts)

    long_answer = " ".join(f"Sentence number {i} is about overfitting and noise." for i in range(12))
    score_answer(long_answer, POINTS, spy)
    assert sum(sizes) == len(POINTS) + len(rubric.answer_units(long_answer)) and max(sizes) == rubric.EMBED_CHUNK


def test_failing_embedder_falls_back_to_lexical():
    def broken(texts):
        raise RuntimeError("model gone")

    assert score_answer(REFERENCE, POINTS, broken).score == 10.0


def test_a_point_split_over_two_sentences_is_matched_by_a_sentence_pair():
    pts = ("training error is low but validation error is high",)
    ans = "The training error is low. But the validation error is high, which is the sign we look for."
    sims = rubric.lexical_similarities(rubric.answer_units(ans), pts)
    assert sims.max() == 1.0 and sims[0, :2].max() < 1.0  # only the pair holds every stem


def test_stems_meet_across_word_forms():
    assert rubric.stem("overfitting") == rubric.stem("overfits") == rubric.stem("overfit") == "overfit"
    assert rubric.stem("regularization") == rubric.stem("regularizations")
    assert rubric.content_stems("The regularization of models") == {rubric.stem("regularization"), "model"}


def _bank_questions(n: int):
    bank = load_bank(DEFAULT_BANK_DIR)
    if len(bank.questions) < 40:
        pytest.skip(f"the interview bank has only {len(bank.questions)} questions so far")
    qs = list(bank.questions)
    random.Random(0).shuffle(qs)
    return qs[:n]


def _coverages(qs, embed):
    own = [score_answer(q.answer, q.key_points, embed).coverage for q in qs]
    shifted = qs[1:] + qs[:1]  # each question's points against another question's reference answer
    other = [score_answer(a.answer, q.key_points, embed).coverage for q, a in zip(qs, shifted)]
    return float(np.mean(own)), float(np.mean(other))


def test_lexical_calibration_on_the_bank():
    own, other = _coverages(_bank_questions(10_000), None)
    assert own >= 0.85 and other <= 0.15, (own, other)


def test_minilm_calibration_on_a_bank_sample():
    """The shipped thresholds with the embedded MiniLM on 25 bank questions (scripts/calibrate_rubric.py
    runs the whole bank). Every text is embedded once up front, as the script does: each answer is
    scored twice, and embedding is the slow part."""
    from tutor.retrieval.embeddings import SentenceTransformerEmbedder

    qs = _bank_questions(25)
    texts = list(dict.fromkeys(t for q in qs for t in (*q.key_points, *rubric.answer_units(q.answer))))
    cache = dict(zip(texts, rubric.embed_texts(SentenceTransformerEmbedder().embed, texts)))
    own, other = _coverages(qs, lambda batch: np.stack([cache[t] for t in batch]))
    assert own >= 0.9 and other <= 0.1, (own, other)


def test_restating_the_question_earns_nothing():
    question = "What is overfitting, and how do training error and validation error show it?"
    echo = "Overfitting: how do training error and validation error show it? What is overfitting."
    assert score_answer(echo, POINTS, None).covered != ()  # without the question, the echo would score
    r = score_answer(echo, POINTS, None, question=question)
    assert r.score == 0.0 and "restates the question" in r.feedback
    # the reference answer says more than the question: unaffected
    assert score_answer(REFERENCE, POINTS, None, question=question).score == 10.0


def test_a_semantic_echo_of_the_question_is_not_matched():
    question = "Why do models memorise?"
    ans = "Models memorise, a thing that happens quite often in practice."  # adds words, says nothing
    assert score_answer(ans, POINTS, _concept_embed).covered == POINTS[:1]
    assert score_answer(ans, POINTS, _concept_embed, question=question).covered == ()

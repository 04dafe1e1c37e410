"""The rubric's meaning checks (tutor/features/rubric_meaning.py) and how score_answer applies them, on
real-looking interview answers: negation, swapped terms and word salad never earn a key point, while
paraphrases, telegraphic answers and correct contrasts still do. No model: a toy embedder where needed."""
import numpy as np
import pytest

from tutor.features import rubric
from tutor.features.rubric import RubricScore, Thresholds, score_answer
from tutor.features.rubric_meaning import (
    Rivals,
    contradicts,
    contradicts_reference,
    negated_stems,
    negation_conflict,
    question_rivals,
    reads_as_prose,
    swapped_term,
)

NO_RIVALS = Rivals(frozenset())
REG_Q = "What is the difference between L1 and L2 regularization?"
REG_POINTS = (
    "L1 (lasso) gives sparse weights, setting some exactly to zero",
    "L2 (ridge) shrinks all weights smoothly towards zero",
    "L1 works as feature selection",
)
REG_REFERENCE = ("L1 regularization, as in lasso, adds the absolute weights to the loss and gives sparse weights: some "
                 "become exactly zero. L2, as in ridge, adds the squared weights and shrinks all of them smoothly. "
                 "So L1 doubles as feature selection.")


@pytest.mark.parametrize("point, unit, expected", [
    ("L1 gives sparse weights", "L1 is not sparse at all.", True),
    ("L1 gives sparse weights", "With L1 the weights do not become sparse.", True),
    ("L1 gives sparse weights", "L1 gives sparse weights.", False),
    ("L1 gives sparse weights", "L1 gives sparse weights, not dense ones.", False),  # negates something else
    ("L1 gives sparse weights", "L1 gives sparse weights, while L2 does not.", False),  # the clause ends it
    ("it is not the probability that the null hypothesis is true",
     "A p-value is the probability that the null hypothesis is true.", True),
    ("it is not the probability that the null hypothesis is true",
     "It is not the probability that the null hypothesis holds.", False),
    ("the gradient gets a direct identity path to early layers",  # the reference says "does not vanish"
     "The gradient does not vanish because it gets a direct path to early layers.", False),
])
def test_negation_conflict(point, unit, expected):
    assert negation_conflict(point, unit) is expected


def test_negated_stems_stop_at_the_scope_and_at_punctuation_words():
    stems = rubric.content_stems
    assert negated_stems("L1 does not give sparse weights quickly here") == stems("give sparse weights")
    assert negated_stems("Dropout isn't magic, it is a regularizer") == stems("magic")
    assert negated_stems("L1 is sparse. It is not dense.") == stems("dense")


@pytest.mark.parametrize("point, unit, expected", [
    # the point's own term replaced by its rival
    ("L1 (lasso) gives sparse weights", "Ridge gives sparse weights.", True),
    ("L1 gives sparse weights", "L2 gives sparse weights, setting some to zero.", True),
    ("training error low, validation error high", "Training error is high and validation error is low.", True),
    # both present: the claim follows the rival, not the own term
    ("L1 gives sparse weights", "L2 gives sparse weights while L1 shrinks them smoothly.", True),
    # both present, correctly attached: no swap
    ("L1 gives sparse weights", "L1 gives sparse weights while L2 shrinks them smoothly.", False),
    ("L1 gives sparse weights", "Unlike L2, L1 gives sparse weights.", False),
    ("L1 gives sparse weights", "It gives sparse weights.", False),  # no rival named: nothing swapped
])
def test_swapped_terms_with_general_rivals(point, unit, expected):
    assert swapped_term(point, unit, NO_RIVALS) is expected


def test_a_comparison_question_makes_its_compared_things_rivals():
    q = "Compare PCA, t-SNE and UMAP. When would you use each?"
    points = ("PCA is linear, fast, deterministic and preserves global variance",
              "t-SNE preserves local neighborhoods for visualization",
              "t-SNE distances between clusters and cluster sizes are not meaningful",
              "UMAP is faster, scales better and keeps more global structure")
    rivals = question_rivals(q, points)
    assert {"pca", "umap"} <= rivals.compared and "t-sn" in rivals.compared
    assert swapped_term(points[1], "PCA preserves local neighbourhoods for visualization.", rivals)
    assert not swapped_term(points[1], "t-SNE preserves local neighbourhoods, unlike PCA.", rivals)
    assert question_rivals("What does PCA do?", points).compared == frozenset()  # not a comparison


@pytest.mark.parametrize("sentence, expected", [
    ("The validation set is used to choose hyperparameters and to select between models.", True),
    ("Lists are mutable.", True),  # short telegraphic answers are fine
    ("Kernel optimizer castle elephant yesterday tensor singing the window.", False),
    ("Sparse lasso weights zero penalty L1 feature selection absolute.", False),  # key words, no statement
    ("Lasso gives sparse weights because the absolute penalty pushes some of them to exactly zero.", True),
])
def test_reads_as_prose(sentence, expected):
    assert reads_as_prose(sentence) is expected


def _concept_embed(texts):
    """A toy embedder: a text's vector counts the regularization concepts it names, so any sentence
    about sparse L1 weights is close to the first point whatever its polarity (as MiniLM is)."""
    concepts = (("sparse", "zero", "lasso", "l1"), ("shrink", "ridge", "l2", "smooth"), ("feature selection",))
    return np.array([[1.0 + sum(c in t.lower() for c in group) for group in concepts] for t in texts])


ANSWERS = {  # kind -> (answer, score band)
    "strong": ("L1, the lasso penalty, gives sparse weights: some are set exactly to zero. L2, the ridge "
               "penalty, shrinks all the weights smoothly towards zero. That is why L1 works as feature "
               "selection.", (7, 10)),
    "partial": ("L1 gives sparse weights, and some of them are set exactly to zero.", (2, 7)),
    "negated": ("L1 does not give sparse weights and none of them become zero. L2 is the same.", (0, 4)),
    "swapped": ("L2, the ridge penalty, gives sparse weights and sets some exactly to zero. L1, the lasso "
                "penalty, shrinks all the weights smoothly towards zero.", (0, 4)),
    "salad": ("Sparse lasso zero weights L1 ridge smoothly shrinks L2 feature selection weights. Zero "
              "feature lasso sparse selection ridge L1 weights shrink.", (0, 2)),
    "off_topic": ("I like to cook pasta on Sundays with my family and friends.", (0, 2)),
}


@pytest.mark.parametrize("kind", ANSWERS)
def test_answers_land_in_their_band_with_a_toy_embedder(kind):
    text, (lo, hi) = ANSWERS[kind]
    r = score_answer(text, REG_POINTS, _concept_embed, question=REG_Q, reference=REG_REFERENCE,
                     thresholds=Thresholds(covered=0.99, partial=0.9))
    assert lo <= r.score <= hi, (kind, r)


@pytest.mark.parametrize("kind", ["negated", "swapped"])
def test_contradictions_are_named_in_the_feedback(kind):
    r = score_answer(ANSWERS[kind][0], REG_POINTS, None, question=REG_Q, reference=REG_REFERENCE)
    assert REG_POINTS[0] in r.contradicted and REG_POINTS[0] not in r.covered
    assert "contradicts the reference" in r.feedback


def test_lexical_keyword_salad_scores_zero_and_says_why():
    """The keyword rubric's failure: every key word there, no statement. Lexically it would cover all."""
    salad = ANSWERS["salad"][0]
    assert rubric.lexical_similarities([salad], REG_POINTS).min() >= 0.5
    r = score_answer(salad, REG_POINTS, None, question=REG_Q)
    assert r.score == 0.0 and "full sentences" in r.feedback


def test_partial_credit_between_the_floor_and_the_covered_threshold():
    th = Thresholds(covered=0.8, partial=0.4, lexical=1.01)  # lexical off: semantic credit alone

    def embed(texts):  # cosine 0.6 between every point and every unit: halfway up the ramp
        return np.array([[1.0, 0.0] if t in REG_POINTS else [0.6, 0.8] for t in texts])

    r = score_answer("Regularization adds a penalty on the size of the weights to the loss.", REG_POINTS, embed,
                     thresholds=th)
    assert isinstance(r, RubricScore) and r.covered == () and r.score == pytest.approx(5.0)


def test_a_correct_contrast_is_not_a_contradiction():
    ok = "L1 gives sparse weights, setting some exactly to zero, while L2 shrinks all weights smoothly."
    assert not contradicts(REG_POINTS[0], ok, question_rivals(REG_Q, REG_POINTS))
    r = score_answer(ok, REG_POINTS, None, question=REG_Q)
    assert REG_POINTS[0] in r.covered and r.contradicted == ()


GC_POINTS = ("Reference counting frees memory deterministically",
             "Cycles are collected by a generational cyclic garbage collector")
GC_REFERENCE = ("When the count reaches zero the object is freed at once, which makes memory release deterministic.",
                "Reference counting cannot free cycles, so a cyclic garbage collector scans three generations.")


@pytest.mark.parametrize("point, unit, expected", [
    # The reference's own sentence, copied or lightly cut: its negation is its wording, not a contradiction.
    (GC_POINTS[1], GC_REFERENCE[1], False),
    (GC_POINTS[1], "Reference counting cannot free cycles, so a cyclic garbage collector scans generations.", False),
    # ... but a unit that adds a negation the sentence lacks makes its own (wrong) claim.
    (GC_POINTS[1], "Reference counting cannot free cycles, so a cyclic garbage collector does not collect them.",
     True),
    # A negation of the point is caught, even when it reads like the sentence whose negation is exempt.
    (GC_POINTS[0], "Reference counting does not free memory deterministically.", True),
])
def test_what_the_reference_itself_says_is_not_a_contradiction(point, unit, expected):
    assert contradicts(point, unit, NO_RIVALS)  # the plain test flags every one of them
    assert contradicts_reference(point, unit, NO_RIVALS, GC_REFERENCE) is expected


def test_a_unit_naming_a_rival_the_restated_sentence_lacks_still_contradicts():
    points = ("Prefer precision when false positives are costly", "Prefer recall when missing positives is costly")
    reference = ("Prefer precision when false positives are costly, for example a spam filter.",
                 "Prefer recall when missing a positive is costly, such as cancer screening.")
    swapped = "Prefer recall when false positives are costly, and prefer precision when missing positives is costly."
    rivals = question_rivals("When would you prefer precision over recall, and vice versa?", points)
    assert all(contradicts_reference(p, swapped, rivals, reference) for p in points)
    assert not any(contradicts_reference(p, r, rivals, reference) for p, r in zip(points, reference))

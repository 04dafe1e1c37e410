"""The interview rubric with the app's real embedder (all-MiniLM-L6-v2, shipped in a PyPI package) on bank
questions that are NOT in the scoring set: strong and partial answers land in their band; negated,
swapped, word-salad, off-topic and fluent-but-wrong answers do not pass."""
import pytest

from tutor.config import AppConfig
from tutor.features.interview_bank import DEFAULT_BANK_DIR, load_bank
from tutor.features.rubric import says_the_reference, score_answer

pytestmark = pytest.mark.integration

# question id -> kind -> (answer, inclusive score band)
CASES = {
    "mlf-006": {  # Compare L1 and L2 regularization. Why does L1 produce sparse weights?
        "strong": ("L2 regularization penalizes the squared weights and shrinks all of them smoothly towards zero. "
                   "L1 penalizes the absolute weights and sets many of them exactly to zero, so L1 acts as feature "
                   "selection. The reason is geometric: the L1 constraint is a diamond whose corners lie on the "
                   "axes, and the loss usually touches it at a corner. Elastic net combines L1 and L2.", (7, 10)),
        "partial": ("L1 penalizes the absolute value of the weights, and that sets many of them exactly to zero.",
                    (2, 7)),
        "negated": ("L1 does not set weights to zero and never gives sparse models. L2 does not shrink weights "
                    "either.", (0, 4)),
        "swapped": ("L1 penalizes squared weights and shrinks them smoothly. L2 penalizes absolute weights and "
                    "sets many exactly to zero, so L2 acts as feature selection.", (0, 4)),
        "salad": ("Absolute L1 weights zero diamond axes corners feature selection squared L2 smoothly shrinks "
                  "elastic net. Penalizes zero weights L1 L2 exactly many corners.", (0, 2)),
        "off_topic": ("My favourite holiday was a week of sailing in Greece, where we anchored in a different bay "
                      "every night and swam before breakfast.", (0, 2)),
    },
    "mlf-007": {  # When would you prefer precision over recall, and vice versa? What does F1 capture?
        "strong": ("Precision is true positives over true positives plus false positives, and recall is true "
                   "positives over true positives plus false negatives. I prefer precision when false positives "
                   "are costly, like a spam filter hiding real mail. I prefer recall when missing a positive is "
                   "costly, like cancer screening. F1 is the harmonic mean of precision and recall.", (7, 10)),
        "partial": ("I would prefer recall when missing a positive case is expensive, for example in cancer "
                    "screening.", (2, 7)),
        "swapped": ("Prefer recall when false positives are costly, and prefer precision when missing positives is "
                    "costly.", (0, 4)),
        "fluent_nonsense": ("10-fold cross validation with a threshold of 95% accuracy gives an average loss of "
                            "23%, while for example object detection yields around 48%.", (0, 2)),
    },
}


@pytest.fixture(scope="module")
def embed():
    from tutor.retrieval import make_embedder

    return make_embedder(AppConfig().retrieval.embedding_model).embed  # the app's configured embedder


@pytest.fixture(scope="module")
def bank():
    return load_bank(DEFAULT_BANK_DIR)


@pytest.mark.parametrize("qid, kind", [(q, k) for q, kinds in CASES.items() for k in kinds])
def test_answers_land_in_their_band(bank, embed, qid, kind):
    q = bank.by_id(qid)
    text, (lo, hi) = CASES[qid][kind]
    r = score_answer(text, q.key_points, embed, question=q.question, reference=q.answer)
    assert lo <= r.score <= hi, (kind, r.score, r.covered, r.contradicted)
    assert says_the_reference(r) is (kind == "strong")  # only the strong one would be shown as a model answer


def test_the_issue_example_does_not_pass_as_a_model_answer(bank, embed):
    """The adapter's answer once shown as "covers 80% of the key points" for this question."""
    q = bank.by_id("dl-014")
    text = ("10-fold cross validation with a threshold of 95% accuracy gives an average loss of 23%, while for "
            "example object detection it yields around 48%.")
    r = score_answer(text, q.key_points, embed, question=q.question, reference=q.answer)
    assert r.score <= 2 and not says_the_reference(r), r


def test_every_reference_answer_covers_all_of_its_own_key_points(bank, embed):
    """The reference answer is right by definition: the interview asks no follow-up after it, and a learner
    who says the same gets full marks. Once 52 of the 317 did not (their own negations and term order read as
    contradictions of a point), and a one-question interview answered with the reference asked a follow-up."""
    short = {}
    for q in bank.questions:
        r = score_answer(q.answer, q.key_points, embed, question=q.question, reference=q.answer)
        if r.missed:
            short[q.id] = (r.score, r.missed)
    assert not short, short

"""Each quiz check on its own: a good item passes, each fault is caught by its check."""
import dataclasses

from tutor.features import quiz_checks as checks
from tutor.features.schemas import QuizItem

CHUNK = "Binary search halves the interval each step. It needs a sorted array."
GOOD = QuizItem(item_id="x", kind="mcq", question="Which term completes this?\n\nBinary _____ halves the interval each step.",
                options=("hashing", "search", "recursion", "sorting"), answer="search", explanation="e",
                chunk_id="dsa.md::1:ab", doc_id="dsa.md", topic="Searching", section="Binary search",
                subject="DSA", difficulty="beginner",
                source_quote="Binary search halves the interval each step.")


def test_good_item_passes():
    assert checks.check_item(GOOD, CHUNK, set()) == ()


def test_duplicate_and_contained_options_fail():
    dup = dataclasses.replace(GOOD, options=("search", "Search", "hashing", "sorting"))
    assert "distinct_options" in checks.check_item(dup, CHUNK, set())
    contained = dataclasses.replace(GOOD, options=("search", "binary search tree", "hashing", "sorting"))
    assert "distinct_options" in checks.check_item(contained, CHUNK, set())


def test_two_correct_options_fail():
    also_true = dataclasses.replace(GOOD, options=("search", "step", "hashing", "sorting"))
    assert "one_correct" in checks.check_item(also_true, CHUNK, set())
    missing = dataclasses.replace(GOOD, options=("trees", "hashing", "sorting", "graphs"))
    assert "one_correct" in checks.check_item(missing, CHUNK, set())


def test_unsupported_answer_fails():
    made_up = dataclasses.replace(GOOD, answer="hashing", source_quote="Binary hashing halves the interval.")
    assert "supported" in checks.check_item(made_up, CHUNK, set())


def test_giveaway_and_repeats_fail():
    give = dataclasses.replace(GOOD, question="What does binary search do each step?")
    assert "no_giveaway" in checks.check_item(give, CHUNK, set())
    assert "new_question" in checks.check_item(GOOD, CHUNK, {checks.norm(GOOD.question)})


def test_uncited_item_fails():
    assert "cited" in checks.check_item(dataclasses.replace(GOOD, chunk_id=""), CHUNK, set())


def test_true_false_must_match_the_source():
    tf = dataclasses.replace(GOOD, kind="true_false", options=("True", "False"), answer="True",
                             question="True or false: Binary search halves the interval each step.")
    assert checks.check_item(tf, CHUNK, set()) == ()
    wrong_key = dataclasses.replace(tf, answer="False")
    assert "supported" in checks.check_item(wrong_key, CHUNK, set())
    altered = dataclasses.replace(tf, answer="False", question="True or false: Binary hashing halves the interval each step.")
    assert checks.check_item(altered, CHUNK, set()) == ()


def test_model_question_rules():
    s = "Binary search halves the interval each step."
    assert checks.model_question_ok("What halves the interval at each step?", "binary search", s) is None
    assert checks.model_question_ok("Is binary search fast?", "binary search", s) == "gives the answer away"
    assert checks.model_question_ok("What is the capital of France?", "binary search", s) == "not about the source sentence"
    assert checks.model_question_ok("binary", "x", s) == "not a question"

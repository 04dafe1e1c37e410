"""The voice tests' measure: pooled content-word recall (bench/media_samples.py)."""
import pytest

from bench.media_samples import QUESTIONS, content_recall, content_words

REF = "What is the difference between a list and a tuple in Python?"


def test_content_words_drop_function_words():
    assert content_words(REF) == ["difference", "list", "tuple", "python"]


def test_a_slip_on_function_words_costs_nothing_a_misheard_content_word_does():
    assert content_recall([REF], ["what's the difference between list and tuple in python"]) == 1.0
    assert content_recall([REF], ["What is the difference that we list and that people in Python?"]) == 0.75


def test_recall_is_pooled_over_clips_and_fails_wrong_or_empty_transcripts():
    assert content_recall([REF, "Explain how binary search works."],
                          [REF, "explain how my research works"]) == pytest.approx(6 / 8)
    assert content_recall(QUESTIONS, QUESTIONS[1:] + QUESTIONS[:1]) < 0.2
    assert content_recall(QUESTIONS, [""] * len(QUESTIONS)) == 0.0
    with pytest.raises(ValueError):
        content_recall(QUESTIONS, QUESTIONS[:1])

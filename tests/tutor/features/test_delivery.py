"""Speaking pace and filler words from a transcript's word timestamps."""
import pytest

from tutor.features.delivery import delivery_markdown, delivery_of, pace_advice
from tutor.features.multimodal.results import Transcript, Word


def transcript(text: str, seconds_per_word: float) -> Transcript:
    ws = [Word(w, i * seconds_per_word, (i + 0.8) * seconds_per_word, 0.9) for i, w in enumerate(text.split())]
    return Transcript(text=text, words=tuple(ws), language="en", duration_s=len(ws) * seconds_per_word,
                      original_duration_s=len(ws) * seconds_per_word, latency_s=0.1, backend="test", model="t")


ANSWER = ("so um overfitting is when the model like learns the noise of the training data um instead of "
          "the pattern and then it fails on new data basically")


def test_pace_and_fillers_come_from_the_word_timestamps():
    d = delivery_of(transcript(ANSWER, 0.4))  # a word every 0.4 s
    n = len(ANSWER.split())
    assert d.words == n
    # speaking time runs from the first word's start to the last word's end
    assert d.speaking_s == pytest.approx((n - 1) * 0.4 + 0.32)
    assert d.words_per_minute == pytest.approx(60 * n / d.speaking_s, abs=0.1)
    assert d.fillers == ("um", "like", "um", "basically")
    md = delivery_markdown(d)
    assert f"{d.words_per_minute:.0f} words/min" in md and "“um” ×2" in md and "“like” ×1" in md
    assert "per 100 words" in md and "silent pause" in md  # 4 fillers in 27 words is a lot


@pytest.mark.parametrize("wpm, word", [(80, "slow"), (140, "comfortable"), (200, "fast")])
def test_pace_advice_bands(wpm, word):
    assert word in pace_advice(wpm)


def test_a_clean_fast_answer_and_a_too_short_one():
    clean = " ".join(["gradient descent follows the negative gradient of the loss"] * 3)
    d = delivery_of(transcript(clean, 0.25))
    assert d.fillers == () and d.words_per_minute > 170
    assert "fast" in delivery_markdown(d) and "No filler words" in delivery_markdown(d)
    short = delivery_of(transcript("um yes", 0.5))
    assert not short.enough_to_judge and "too short to judge" in delivery_markdown(short)
    empty = delivery_of(transcript("", 0.5))
    assert empty.words == 0 and empty.fillers_per_100_words == 0.0 and "too short" in delivery_markdown(empty)

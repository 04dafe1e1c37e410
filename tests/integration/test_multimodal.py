"""Voice and photo input on the embedded models: speech made by espeak-ng, images drawn with Pillow."""

import pytest

from bench.media_samples import draw_problem, espeak_available, normalise_words, speak, word_accuracy
from tutor.config import AppConfig, MediaConfig
from tutor.features.multimodal import MediaService

pytestmark = pytest.mark.integration

QUESTION = "What is the difference between a list and a tuple in Python?"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    if not espeak_available():
        pytest.fail("espeak-ng is not installed: run scripts/setup.sh --dev (bash scripts/test.sh does)")
    return speak(QUESTION, tmp_path_factory.mktemp("speech") / "question.wav")


@pytest.fixture(scope="module")
def media():
    return MediaService(AppConfig())


def test_faster_whisper_transcribes_a_spoken_question_with_word_timestamps(media, spoken):
    t = media.transcribe(spoken)
    assert t.backend == "faster-whisper" and t.language == "en"
    assert word_accuracy(QUESTION, t.text) >= 0.85, t.text
    assert {"list", "tuple", "python"} <= set(normalise_words(t.text)), t.text
    starts = [w.start_s for w in t.words]
    assert len(t.words) == len(normalise_words(t.text)) and starts == sorted(starts)
    assert 0 <= t.words[0].start_s and t.words[-1].end_s <= t.duration_s + 0.1
    assert 80 < t.words_per_minute < 300  # espeak-ng speaks ~175 words/min by default


def test_openai_whisper_on_the_same_embedded_weights_hears_the_same(media, spoken):
    ow = MediaService(AppConfig().replace(media=MediaConfig(speech_backend="openai-whisper")))
    t = ow.transcribe(spoken)
    assert t.backend == "openai-whisper"
    assert word_accuracy(media.transcribe(spoken).text, t.text) >= 0.85, t.text
    assert word_accuracy(QUESTION, t.text) >= 0.85, t.text
    assert t.words and all(w.end_s >= w.start_s for w in t.words)


@pytest.mark.parametrize("variant", ["rotated", "photo"])
def test_ocr_reads_a_drawn_problem(media, tmp_path, variant):
    lines = ["Find the derivative of f(x) = sin(x^2)", "using the chain rule."]
    path = tmp_path / ("p.jpg" if variant == "photo" else "p.png")
    draw_problem(lines, variant, seed=1).save(path)
    r = media.read_image(path)
    assert r.text.split("\n") == lines, r.text
    assert r.caption is None and "SMARTLEARN_MEDIA_CAPTION_MODEL" in r.caption_note


def test_blank_image_reads_as_no_text(media, tmp_path):
    from PIL import Image

    path = tmp_path / "blank.png"
    Image.new("RGB", (800, 600), "white").save(path)
    r = media.read_image(path)
    assert r.text == "" and r.notice == "No text was found in the image."

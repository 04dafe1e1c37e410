"""Voice & photo tab handlers called directly (no server), on a real Tutor with scripted engines."""

import gradio as gr
import pytest
from gradio.data_classes import ImageData

from app import main as app_main
from app.tabs import multimodal as tab
from tests.tutor.features.fakes import FakeOcr, FakeSpeech, fake_engines
from tests.tutor.features.media_fixtures import png_with_header_size, tone, write_wav
from tests.tutor.test_service import make_cfg
from tutor.backends.fake import FakeBackend
from tutor.errors import TutorError
from tutor.features.multimodal import MediaService
from tutor.features.multimodal.caption import NOT_CONFIGURED
from tutor.retrieval import HashEmbedder
from tutor.services import build_services


@pytest.fixture
def services(tmp_path):
    s = build_services(make_cfg(tmp_path), backend=FakeBackend(), embedder=HashEmbedder(), engines=fake_engines())
    assert s.tutor.warm_up().ready
    return s


@pytest.fixture
def tutor(services):
    return services.tutor


@pytest.fixture
def media(tutor):
    return MediaService(tutor.cfg, fake_engines())


def test_recording_fills_the_question_box(media, tmp_path):
    text, info = tab.transcribe_audio(media, str(write_wav(tmp_path / "q.wav", tone(2.0))))
    assert text == "What does the chain rule say?"
    assert "Transcribed 2.0 s" in info and "edit the question" in info


def test_bad_recording_keeps_the_box_and_says_why(media, tmp_path):
    silent = write_wav(tmp_path / "s.wav", tone(1.0, amp=0.0))
    text, info = tab.transcribe_audio(media, str(silent))
    assert text == gr.skip(), "the question box keeps what the learner had"
    assert "silent" in info
    assert tab.transcribe_audio(media, None) == (gr.skip(), gr.skip())  # a cleared recorder changes nothing


def test_unexpected_failure_is_a_sentence(tutor, tmp_path):
    class Broken(FakeSpeech):
        def transcribe(self, samples, language):
            raise RuntimeError("CUDA exploded")

    media = MediaService(tutor.cfg, fake_engines(speech=Broken()))
    _, info = tab.transcribe_audio(media, str(write_wav(tmp_path / "q.wav", tone(1.0))))
    assert "Something went wrong" in info and "CUDA" not in info


def test_image_fills_text_and_explains_missing_captions(media, tmp_path):
    from PIL import Image

    p = tmp_path / "p.png"
    Image.new("RGB", (100, 60), "white").save(p)
    text, caption, info = tab.read_image(media, str(p))
    assert text == "Differentiate sin(x^2)\nusing the chain rule" and caption == ""
    assert "Read 2 line(s)" in info and NOT_CONFIGURED in info


def test_image_problems_are_messages(tutor, tmp_path):
    media = MediaService(tutor.cfg, fake_engines(ocr=FakeOcr(lines=())))
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 60), "white").save(blank)
    text, _, info = tab.read_image(media, str(blank))
    assert text == "" and "No text was found" in info
    bomb = png_with_header_size(tmp_path / "bomb.png", 30_000, 30_000)
    text, _, info = tab.read_image(media, str(bomb))
    assert text == "" and "too many pixels" in info


def test_checked_image_passes_uploads_to_our_checks_untouched(tmp_path):
    """Gradio's own preprocessing would open a non-image with PIL and fail with a generic error."""
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    comp = tab.checked_image()
    assert comp.preprocess(ImageData(path=str(junk), orig_name="notes.png")) == str(junk)
    with pytest.raises(Exception):  # what plain gr.Image would do with it
        gr.Image(type="filepath").preprocess(ImageData(path=str(junk), orig_name="notes.png"))


def test_answer_streams_then_shows_cited_sources(tutor, media):
    tutor.backend.enqueue(["The chain rule multiplies the derivatives [1]."])
    steps = list(tab.answer(tutor, media, "explain step by step", "Differentiate sin(x^2)", "", "ann"))
    assert steps[0][0].startswith("_Searching")
    final_md, sources_md = steps[-1]
    assert "The chain rule multiplies the derivatives [1]" in final_md
    assert "Chain rule" in sources_md and "**cited**" in sources_md
    assert len(steps) > 3


def test_answer_with_nothing_to_ask_is_a_gentle_message(tutor, media):
    steps = list(tab.answer(tutor, media, " ", "", "", "ann"))
    assert "type what you would like to know" in steps[-1][0] and tutor.backend.requests == []


def test_model_failure_is_shown(tutor, media):
    tutor.backend.fail_with = TutorError("The language model is not loaded yet.")
    steps = list(tab.answer(tutor, media, "chain rule?", "", "", "ann"))
    assert steps[-1][0] == "**Could not answer:** The language model is not loaded yet."


def test_app_has_the_voice_and_photo_tab(services):
    demo = app_main.build_app(services)
    ids = {c["props"].get("elem_id") for c in demo.get_config_file()["components"]}
    assert {"mm-audio", "mm-image", "mm-question", "mm-image-text", "mm-ask", "mm-answer", "mm-sources",
            "mm-audio-info", "mm-image-info"} <= ids

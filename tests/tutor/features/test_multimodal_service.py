"""MediaService: checks -> engines -> typed results -> Tutor.ask, on a real Tutor (Chroma on disk,
SQLite metrics) with a scripted LLM and scripted media engines."""

import pytest
from PIL import Image, ImageDraw

from tests.tutor.features.fakes import FakeCaptioner, FakeOcr, FakeSpeech, fake_engines
from tests.tutor.features.media_fixtures import tone, write_wav
from tests.tutor.test_service import make_cfg
from tutor.backends.fake import FakeBackend
from tutor.config import MediaConfig
from tutor.errors import InputError
from tutor.features.multimodal import MediaService, compose_question
from tutor.features.multimodal.caption import NOT_CONFIGURED
from tutor.metrics.meter import Meter
from tutor.retrieval import HashEmbedder
from tutor.service import build_tutor
from tutor.types import Answer, Delta


@pytest.fixture
def tutor(tmp_path):
    t = build_tutor(make_cfg(tmp_path), backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    return t


def service(tutor, media: MediaConfig | None = None, **engines) -> MediaService:
    cfg = tutor.cfg.replace(media=media or MediaConfig())
    return MediaService(cfg, fake_engines(**engines))


def photo(path):
    im = Image.new("RGB", (320, 120), "white")
    ImageDraw.Draw(im).text((10, 40), "Differentiate sin(x^2)", fill="black")
    im.save(path)
    return path


def test_transcribe_checks_decodes_and_returns_the_typed_transcript(tutor, tmp_path):
    speech = FakeSpeech()
    t = service(tutor, speech=speech).transcribe(write_wav(tmp_path / "q.wav", tone(2.0)))
    assert t.text == "What does the chain rule say?" and t.notice is None
    assert speech.calls == [(32_000, "")], "16 kHz samples, the configured (empty) language"
    assert len(t.words) == 6 and t.words_per_minute > 0


def test_long_recording_is_cut_with_a_message(tutor, tmp_path):
    speech = FakeSpeech()
    svc = service(tutor, MediaConfig(max_audio_s=1.5), speech=speech)
    t = svc.transcribe(write_wav(tmp_path / "long.wav", tone(4.0)))
    assert speech.calls[0][0] == 24_000
    assert t.duration_s == pytest.approx(1.5) and t.original_duration_s == pytest.approx(4.0)
    assert t.notice == "The recording is longer than 1.5 seconds; only the first 1.5 seconds were transcribed."


def test_silence_and_bad_files_never_reach_the_model(tutor, tmp_path):
    speech = FakeSpeech()
    svc = service(tutor, MediaConfig(max_audio_mb=0.05), speech=speech)
    with pytest.raises(InputError, match="silent"):
        svc.transcribe(write_wav(tmp_path / "s.wav", tone(1.0, amp=0.0)))
    with pytest.raises(InputError, match="limit is 0.05 MB"):
        svc.transcribe(write_wav(tmp_path / "big.wav", tone(3.0)))
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    with pytest.raises(InputError, match="not an audio file"):
        svc.transcribe(bad)
    assert speech.calls == []


def test_nothing_recognised_is_an_input_error(tutor, tmp_path):
    with pytest.raises(InputError, match="No speech was recognised"):
        service(tutor, speech=FakeSpeech(text="")).transcribe(write_wav(tmp_path / "q.wav", tone(1.0)))


def test_read_image_without_caption_model_says_so_and_still_reads(tutor, tmp_path):
    r = service(tutor).read_image(photo(tmp_path / "p.png"))
    assert r.text == "Differentiate sin(x^2)\nusing the chain rule"
    assert r.caption is None and r.caption_note == NOT_CONFIGURED and r.notice is None
    assert (r.width, r.height) == (320, 120)


def test_image_without_text_is_a_notice_not_an_error(tutor, tmp_path):
    r = service(tutor, ocr=FakeOcr(lines=())).read_image(photo(tmp_path / "p.png"))
    assert r.text == "" and r.notice == "No text was found in the image."


def test_caption_is_added_and_a_failing_captioner_keeps_the_text(tutor, tmp_path):
    r = service(tutor, captioner=FakeCaptioner()).read_image(photo(tmp_path / "p.png"))
    assert r.caption == "a hand-written equation on squared paper" and r.caption_note is None
    r = service(tutor, captioner=FakeCaptioner(fail=RuntimeError("boom"))).read_image(photo(tmp_path / "p.png"))
    assert r.caption is None and "could not be described (RuntimeError)" in r.caption_note and r.text
    from tutor.errors import ModelLoadError

    failing = FakeCaptioner(fail=ModelLoadError("The caption model 'x' could not be loaded."))
    r = service(tutor, captioner=failing).read_image(photo(tmp_path / "p.png"))
    assert r.caption_note == "No image description: The caption model 'x' could not be loaded." and r.text


def test_compose_question():
    assert compose_question("  explain   step by step ", "3x + 5 = 20", None) == \
        "explain step by step\n\nProblem:\n3x + 5 = 20"
    assert compose_question("", "What is a tensor?", None) == "What is a tensor?"
    assert compose_question("what is this?", "", "a bar chart") == "what is this?\n\nThe image shows: a bar chart"
    assert compose_question("Why?", "  ", "") == "Why?"
    with pytest.raises(InputError):
        compose_question(" ", "\n", None)


def test_ask_sends_instruction_and_image_text_and_returns_a_cited_answer(tutor):
    tutor.backend.enqueue(["Apply the chain rule: cos(x^2) times 2x [1]."])
    svc = service(tutor)
    events = list(svc.ask(tutor, "check my working", "Differentiate sin(x^2) with the chain rule",
                          user="ann", operation="voice_photo"))
    assert isinstance(events[-1], Answer) and all(isinstance(e, Delta) for e in events[:-1])
    ans = events[-1]
    assert ans.grounded and 1 in ans.citations and ans.sources[0].doc_id == "calculus/chain.md"
    prompt = tutor.backend.requests[-1].messages[-1].content
    assert "check my working" in prompt and "Differentiate sin(x^2)" in prompt
    call = tutor.metrics.recent_calls()[0]
    assert call.operation == "voice_photo" and call.user == "ann"


def test_speech_ocr_and_caption_calls_are_recorded_per_user(tutor, tmp_path):
    svc = MediaService(tutor.cfg, fake_engines(captioner=FakeCaptioner()), Meter(tutor.metrics))
    svc.transcribe(write_wav(tmp_path / "q.wav", tone(2.0)), user="ann")
    svc.read_image(photo(tmp_path / "p.png"), user="ann")
    calls = {c.operation: c for c in tutor.metrics.recent_calls(10)}
    assert set(calls) >= {"speech", "ocr", "caption"}
    speech, ocr = calls["speech"], calls["ocr"]
    assert speech.model == "fake-speech:fake" and speech.user == "ann" and speech.success
    assert speech.completion_tokens == 6 and speech.latency_s >= 0  # words heard
    assert ocr.model == "rapidocr" and ocr.completion_tokens == 6  # "Differentiate sin(x^2)" + "using the chain rule"
    assert calls["caption"].model == "caption:fake-caption"


def test_a_failing_model_is_recorded_as_a_failed_call_and_bad_input_is_not(tutor, tmp_path):
    class Broken(FakeSpeech):
        def transcribe(self, samples, language):
            raise RuntimeError("weights corrupt")

    svc = MediaService(tutor.cfg, fake_engines(speech=Broken()), Meter(tutor.metrics))
    with pytest.raises(RuntimeError):
        svc.transcribe(write_wav(tmp_path / "q.wav", tone(2.0)), user="bob")
    with pytest.raises(InputError):
        svc.transcribe(write_wav(tmp_path / "silent.wav", tone(2.0, amp=0.0)), user="bob")
    calls = [c for c in tutor.metrics.recent_calls(10) if c.operation == "speech"]
    assert len(calls) == 1 and not calls[0].success and calls[0].error_type == "RuntimeError"


def test_the_recorded_media_operations_are_the_ones_statistics_keep_out_of_recommendations(tutor, tmp_path):
    from tutor.metrics.stats import MEDIA_OPERATIONS

    svc = MediaService(tutor.cfg, fake_engines(captioner=FakeCaptioner()), Meter(tutor.metrics))
    svc.transcribe(write_wav(tmp_path / "q.wav", tone(2.0)))
    svc.read_image(photo(tmp_path / "p.png"))
    assert {c.operation for c in tutor.metrics.recent_calls(10)} == MEDIA_OPERATIONS

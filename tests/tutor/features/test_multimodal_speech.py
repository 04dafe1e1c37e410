"""Speech backends: the CT2 -> openai-whisper weight mapping checked against CTranslate2 itself, the
openai-whisper path on a tiny Whisper built from ModelDimensions, lazy thread-safe loading, and the
typed transcript (word timestamps, pace, fillers)."""
import threading

import numpy as np
import pytest

from tests.tutor.features.media_fixtures import tone
from tutor.config import MediaConfig
from tutor.errors import InputError, ModelLoadError
from tutor.features.multimodal.results import Transcript, Word
from tutor.features.multimodal.speech import (
    FasterWhisperSpeech, OpenAIWhisperSpeech, embedded_whisper_dir, make_speech,
)

SOT, NO_TIMESTAMPS = 50257, 50362  # English-only Whisper vocabulary


def test_ct2_weights_in_openai_whisper_compute_what_ctranslate2_computes():
    """The embedded CT2 model read into whisper.model.Whisper gives CTranslate2's own encoder output
    and decoder logits (CT2 run in float32 so only the arithmetic order differs)."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    import torch
    import whisper

    from tutor.features.multimodal.ct2_whisper import load_ct2_into_whisper

    folder = embedded_whisper_dir()
    ours = load_ct2_into_whisper(folder)
    ref = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32", intra_threads=1)
    t = np.arange(16_000 * 3) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 300 * t) * np.sin(2 * np.pi * 2 * t)).astype(np.float32)
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)))[None]
    features = ctranslate2.StorageView.from_array(mel.numpy().copy())
    with torch.no_grad():
        enc = ours.encoder(mel)
    assert np.abs(enc.numpy() - np.array(ref.encode(features))).max() < 1e-3
    prompt = [SOT, NO_TIMESTAMPS]
    res = ref.generate(features, [prompt], beam_size=1, max_length=4, return_logits_vocab=True,
                       suppress_blank=False, suppress_tokens=[])[0]
    seq = res.sequences_ids[0]
    ref_logits = np.array(res.logits[0]).reshape(len(seq), -1)
    with torch.no_grad():
        logits = ours.decoder(torch.tensor([prompt + seq]), enc)[0, len(prompt) - 1:len(prompt) - 1 + len(seq)]
    assert np.abs(logits.numpy() - ref_logits).max() < 1e-2
    assert ours.dims.n_vocab == 51864 and not ours.is_multilingual


@pytest.fixture(scope="module")
def tiny_whisper_pt(tmp_path_factory):
    """A standard openai-whisper checkpoint file (dims + state dict) of a tiny random model."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=16, n_text_state=16, n_text_head=2, n_text_layer=2)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": Whisper(dims).state_dict()}, path)
    return path


def test_openai_whisper_loads_a_checkpoint_once_lazily_and_transcribes(tiny_whisper_pt, monkeypatch):
    import whisper

    calls = []
    real = whisper.load_model
    monkeypatch.setattr(whisper, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    speech = OpenAIWhisperSpeech(str(tiny_whisper_pt))
    assert calls == [], "nothing loads before the first use"
    results, errors = [], []

    def work():
        try:
            results.append(speech.transcribe(tone(1.0), None))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(calls) == 1, (errors, calls)
    assert speech.load() == 0.0
    t = results[0]
    assert isinstance(t, Transcript) and t.backend == "openai-whisper" and t.language == "en"
    assert t.duration_s == pytest.approx(1.0) and t.latency_s > 0
    assert all(isinstance(w, Word) and w.end_s >= w.start_s for w in t.words)
    # Greedy decoding of the same audio is deterministic, whichever thread ran it.
    assert len({r.text for r in results}) == 1


def test_english_only_model_refuses_another_language(tiny_whisper_pt):
    speech = OpenAIWhisperSpeech(str(tiny_whisper_pt))
    with pytest.raises(InputError, match="English-only"):
        speech.transcribe(tone(0.5), "fr")


def test_unknown_speech_model_is_a_load_error_naming_the_setting(tmp_path):
    speech = OpenAIWhisperSpeech(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MEDIA_SPEECH_MODEL"):
        speech.load()
    fw = FasterWhisperSpeech(str(tmp_path / "missing-folder"))
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MEDIA_SPEECH_MODEL"):
        fw.load()


def test_backend_is_chosen_by_config():
    assert isinstance(make_speech(MediaConfig()), FasterWhisperSpeech)
    assert isinstance(make_speech(MediaConfig(speech_backend="openai-whisper")), OpenAIWhisperSpeech)


def test_transcript_reports_pace_and_fillers():
    words = (Word("So", 1.0, 1.2, 0.9), Word("um,", 1.3, 1.5, 0.6), Word("gradient", 1.6, 2.0, 0.9),
             Word("descent", 2.0, 2.5, 0.9), Word("Uh", 2.6, 2.8, 0.5), Word("works.", 2.9, 4.0, 0.9))
    t = Transcript("So um, gradient descent Uh works.", words, "en", 5.0, 5.0, 0.5, "faster-whisper", "x")
    assert t.speaking_s == pytest.approx(3.0)
    assert t.words_per_minute == pytest.approx(120.0)
    assert [w.text for w in t.fillers()] == ["um,", "Uh"]
    assert t.real_time_factor == pytest.approx(0.1)
    empty = Transcript("", (), "en", 0.0, 0.0, 0.0, "faster-whisper", "x")
    assert empty.words_per_minute == 0.0 and empty.real_time_factor == 0.0

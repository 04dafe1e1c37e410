"""Ties speech, OCR and captions to the Tutor: a file comes in, checked text goes out for the
learner to edit, and the edited text is asked like a chat question (same retrieval, citations).

The engines are built once by the composition root (tutor/services.py, ``make_engines``) and shared by
every user and every tab that takes voice or images: each loads its weights on first use, once.
Nothing per user is stored here.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from tutor.config import AppConfig, MediaConfig
from tutor.errors import InputError, TutorError
from tutor.features.multimodal.audio import decode_audio
from tutor.features.multimodal.caption import NOT_CONFIGURED, Captioner
from tutor.features.multimodal.checks import check_audio_file, check_image_file, check_samples
from tutor.features.multimodal.ocr import OcrEngine
from tutor.features.multimodal.results import ImageReading, Transcript
from tutor.features.multimodal.speech import SpeechBackend, make_speech
from tutor.metrics.meter import Meter

logger = logging.getLogger(__name__)

NO_TEXT = "No text was found in the image."
OCR_MODEL = "rapidocr"  # the model name OCR calls are recorded under


@dataclass(frozen=True)
class Engines:
    speech: SpeechBackend
    ocr: OcrEngine
    captioner: Captioner | None  # None: no caption model configured


def make_engines(cfg: AppConfig) -> Engines:
    """The engines for this config (cheap: weights load on first use). Called once, by the composition root."""
    m = cfg.media
    cache = cfg.paths.model_cache_dir
    captioner = Captioner(m.caption_model, str(cache)) if m.caption_model.strip() else None
    return Engines(make_speech(m, cache / "whisper"), OcrEngine(m.ocr_threads), captioner)


def _minutes(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        n = int(seconds // 60)
        return f"{n} minute" + ("s" if n != 1 else "")
    return f"{seconds:g} seconds"


class MediaService:
    """What the voice & photo tab (and the interview coach) call.

    Every transcription, OCR read and caption goes through the meter (operation "speech", "ocr",
    "caption"; completion_tokens = words out), so the admin's per-model statistics cover these models
    too. Input that fails the checks never reaches a model and is not recorded; a model that raises is
    recorded as a failed call."""

    def __init__(self, cfg: AppConfig, engines: Engines, meter: Meter | None = None) -> None:
        self.cfg: MediaConfig = cfg.media
        self.engines = engines
        self.meter = meter or Meter(None)

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
        t, _ = self.meter.timed(f"{speech.name}:{speech.model}", "speech", user,
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
        lines, ocr_s = self.meter.timed(OCR_MODEL, "ocr", user, lambda: self.engines.ocr.read(np.asarray(image)),
                                        lambda lines: sum(len(line.text.split()) for line in lines))
        caption, note, caption_s = None, None, 0.0
        if self.engines.captioner is None:
            note = NOT_CONFIGURED
        else:
            t1 = time.perf_counter()  # a failed caption's time counts too
            try:
                captioner = self.engines.captioner
                caption = self.meter.timed(f"caption:{captioner.model}", "caption", user,
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

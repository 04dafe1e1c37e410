"""Scripted stand-ins for the speech, OCR and caption engines (for service and tab tests)."""
from __future__ import annotations

import numpy as np

from tutor.features.multimodal.results import OcrLine, Transcript, Word
from tutor.features.multimodal.service import Engines


class FakeSpeech:
    name, model = "fake-speech", "fake"

    def __init__(self, text: str = "What does the chain rule say?") -> None:
        self.text = text
        self.calls: list[tuple[int, str | None]] = []

    def load(self) -> float:
        return 0.0

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        self.calls.append((samples.size, language))
        words = tuple(Word(w, i * 0.4, i * 0.4 + 0.3, 0.9) for i, w in enumerate(self.text.split()))
        d = samples.size / 16_000
        return Transcript(self.text, words, language or "en", d, d, 0.01, self.name, self.model)


class FakeOcr:
    def __init__(self, lines: tuple[str, ...] = ("Differentiate sin(x^2)", "using the chain rule")) -> None:
        self.lines = lines
        self.calls = 0

    def read(self, rgb: np.ndarray) -> tuple[OcrLine, ...]:
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
        self.calls += 1
        return tuple(OcrLine(t, 0.99, ((0.0, i * 20.0), (100.0, i * 20.0 + 15))) for i, t in enumerate(self.lines))


class FakeCaptioner:
    model = "fake-caption"

    def __init__(self, caption: str = "a hand-written equation on squared paper", fail: Exception | None = None):
        self.text, self.fail = caption, fail

    def caption(self, image) -> str:
        if self.fail:
            raise self.fail
        return self.text


def fake_engines(speech=None, ocr=None, captioner=None) -> Engines:
    return Engines(speech or FakeSpeech(), ocr or FakeOcr(), captioner)

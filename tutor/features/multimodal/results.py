"""Typed results of the multimodal features: what was heard (Transcript) and read (ImageReading).

Each result carries its own latency and notices, so nothing per-call lives on the shared engines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Common English hesitation words; the interview coach counts these (Transcript.fillers).
FILLER_WORDS = frozenset({"um", "uh", "erm", "er", "ah", "hmm", "mm", "like", "basically", "actually"})


@dataclass(frozen=True)
class Word:
    text: str  # as recognised, without surrounding spaces
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...]  # word timestamps, for speaking pace and filler words
    language: str
    duration_s: float  # audio that was transcribed (after any cut to the length limit)
    original_duration_s: float
    latency_s: float  # transcription only (decoding the file excluded)
    backend: str  # "faster-whisper" | "openai-whisper"
    model: str
    notice: str | None = None  # e.g. "Only the first 5 minutes were transcribed."

    @property
    def real_time_factor(self) -> float:
        return self.latency_s / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def speaking_s(self) -> float:
        """First word start -> last word end (pauses inside count; leading/trailing silence does not)."""
        return max(0.0, self.words[-1].end_s - self.words[0].start_s) if self.words else 0.0

    @property
    def words_per_minute(self) -> float:
        return 60.0 * len(self.words) / self.speaking_s if self.speaking_s > 0 else 0.0

    def fillers(self, vocabulary: frozenset[str] = FILLER_WORDS) -> tuple[Word, ...]:
        return tuple(w for w in self.words if _bare(w.text) in vocabulary)


def _bare(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


@dataclass(frozen=True)
class OcrLine:
    text: str
    score: float  # recogniser confidence in [0, 1]
    box: tuple[tuple[float, float], ...]  # corner points, pixels


@dataclass(frozen=True)
class ImageReading:
    text: str  # OCR text in reading order, one line per text line
    lines: tuple[OcrLine, ...]
    caption: str | None  # what a caption model says the image shows; None when none ran
    caption_note: str | None  # why there is no caption (not configured / failed), as a sentence
    width: int
    height: int
    ocr_latency_s: float
    caption_latency_s: float = 0.0
    notice: str | None = None  # e.g. "No text was found in the image."

"""Multimodal input: ask by voice (speech.py), ask with a photo (ocr.py, caption.py).

checks.py refuses bad uploads with clear messages, audio.py decodes audio, service.py ties it all to
the Tutor. Heavy libraries (faster-whisper, whisper, torch, rapidocr) are imported inside functions.
"""
from tutor.features.multimodal.results import FILLER_WORDS, ImageReading, OcrLine, Transcript, Word
from tutor.features.multimodal.service import Engines, MediaService, compose_question, make_engines

__all__ = ["FILLER_WORDS", "Engines", "ImageReading", "MediaService", "OcrLine", "Transcript", "Word",
           "compose_question", "make_engines"]

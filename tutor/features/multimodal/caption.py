"""Image captions through any transformers image-to-text model (BLIP by default in the docs).

No caption weights ship on PyPI (MODELS.md), so "not configured" is a normal state: the service then
says plainly that captions need a model, and OCR still works.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from tutor.errors import BackendUnavailable, ModelLoadError
from tutor.lazy import Lazy

logger = logging.getLogger(__name__)

NOT_CONFIGURED = ("No image description: captions need an image-captioning model (for example a BLIP folder), "
                  "set with SMARTLEARN_MEDIA_CAPTION_MODEL. The text in the image is still read.")
MAX_CAPTION_TOKENS = 40


class Captioner:
    """Lazily loaded image-to-text model; one caption per call, serialised."""

    def __init__(self, model: str, cache_dir: str | None = None) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self._loaded = Lazy(self._build, f"caption model {model}")
        self._run_lock = threading.Lock()

    def load(self) -> float:
        return self._loaded.load()

    def _build(self) -> tuple[Any, Any]:
        try:
            import transformers
        except ImportError as e:  # pragma: no cover - transformers is a core dependency
            raise BackendUnavailable("Captions need transformers: pip install transformers") from e
        try:
            processor = transformers.AutoProcessor.from_pretrained(self.model, cache_dir=self.cache_dir)
            model = transformers.AutoModelForImageTextToText.from_pretrained(self.model, cache_dir=self.cache_dir)
        except Exception as e:  # noqa: BLE001 - missing folder, offline hub id, unsupported model
            logger.exception("caption model %s failed to load", self.model)
            raise ModelLoadError(
                f"The caption model {self.model!r} could not be loaded ({type(e).__name__}). Check "
                f"SMARTLEARN_MEDIA_CAPTION_MODEL (a local folder, or a hub id when online).") from e
        return processor, model.eval()

    def caption(self, image) -> str:
        """PIL RGB image -> one sentence (greedy, so the same image gives the same caption)."""
        import torch

        processor, model = self._loaded.get()
        with self._run_lock, torch.inference_mode():
            inputs = processor(images=image, return_tensors="pt")
            ids = model.generate(**inputs, max_new_tokens=MAX_CAPTION_TOKENS, do_sample=False)
            text = processor.batch_decode(ids, skip_special_tokens=True)[0]
        return " ".join(text.split())

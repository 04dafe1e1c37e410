"""OCR with the PP-OCR ONNX models shipped inside the rapidocr package (MODELS.md).

The engine loads on first use, once, and is shared; runs are serialised (onnxruntime already uses
every configured thread for one image). Detected boxes are regrouped into text lines in reading
order, so a worked problem reads top to bottom, left to right.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from tutor.errors import BackendUnavailable, ModelLoadError
from tutor.lazy import Lazy
from tutor.features.multimodal.results import OcrLine

logger = logging.getLogger(__name__)

# Lines the recogniser itself scores below this are mostly noise read from texture or shadows.
MIN_SCORE = 0.5
# Text detection runs on the image scaled so its longer side is at most this (recognition still
# reads crops of the full image). rapidocr's default ("min side >= 736") detects on the whole 2000 px
# photo; on 32 generated problem images plus 8 half-size screenshots, 960 px max was 3.5-8x faster
# per image on 2 cores with equal or better word accuracy (same-run comparison, interleaved).
DET_MAX_SIDE = 960


class OcrEngine:
    name = "rapidocr"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads if threads > 0 else max(1, min(4, os.cpu_count() or 1))
        self._engine = Lazy(self._build, "OCR engine (rapidocr)")
        self._run_lock = threading.Lock()

    def load(self) -> float:
        return self._engine.load()

    def _build(self) -> Any:
        try:
            from rapidocr import RapidOCR
        except ImportError as e:
            raise BackendUnavailable("OCR needs rapidocr: pip install rapidocr==3.10.0 onnxruntime") from e
        try:
            engine = RapidOCR(params={
                # rapidocr logs a WARNING for every image without text: a normal answer here.
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "Det.limit_type": "max",
                "Det.limit_side_len": DET_MAX_SIDE,
            })
            # RapidOCR builds its sessions on the first call: do that now, on a blank page.
            engine(np.full((64, 64, 3), 255, np.uint8))
        except Exception as e:  # noqa: BLE001
            logger.exception("OCR engine failed to load")
            raise ModelLoadError(f"The OCR models could not be loaded ({type(e).__name__}: {e}).") from e
        return engine

    def read(self, rgb: np.ndarray) -> tuple[OcrLine, ...]:
        """RGB uint8 array (H, W, 3) -> recognised lines in reading order."""
        engine = self._engine.get()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # rapidocr follows OpenCV's BGR order
        with self._run_lock:
            out = engine(bgr)
        if out.txts is None or out.boxes is None:
            return ()
        pieces = [
            OcrLine(str(t).strip(), float(s), tuple((float(x), float(y)) for x, y in box))
            for t, s, box in zip(out.txts, out.scores, out.boxes)
            if str(t).strip() and float(s) >= MIN_SCORE
        ]
        return reading_order(pieces)


def reading_order(pieces: list[OcrLine]) -> tuple[OcrLine, ...]:
    """Merge boxes that continue the same printed line (the detector may split one line in several
    boxes). rapidocr already returns boxes top to bottom; a box joins the line before it when its
    centre is within half a text height of that line's last box and it starts to its right. Text
    height is the box's short side, not its vertical extent, so a photo taken at an angle (tall
    boxes) does not merge two lines into one."""
    def centre(p: OcrLine) -> tuple[float, float]:
        return (sum(x for x, _ in p.box) / len(p.box), sum(y for _, y in p.box) / len(p.box))

    def text_height(p: OcrLine) -> float:
        (x0, y0), _, _, (x3, y3) = p.box[:4]  # corners: top-left, top-right, bottom-right, bottom-left
        return float(np.hypot(x3 - x0, y3 - y0))

    rows: list[list[OcrLine]] = []
    for p in pieces:
        if rows:
            last = rows[-1][-1]
            (lx, ly), (px, py) = centre(last), centre(p)
            same_line = abs(py - ly) <= 0.5 * min(text_height(p), text_height(last))
            if same_line and min(x for x, _ in p.box) >= max(x for x, _ in last.box) - text_height(last):
                rows[-1].append(p)
                continue
        rows.append([p])
    lines = []
    for row in rows:
        box = (row[0].box[0], row[-1].box[1], row[-1].box[2], row[0].box[3])
        lines.append(OcrLine(" ".join(p.text for p in row), min(p.score for p in row), box))
    return tuple(lines)

"""Decoding learner audio to 16 kHz mono float32 with PyAV (bundled FFmpeg libraries, so no
ffmpeg program is needed), stopping at the length limit instead of decoding a whole long file."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutor.errors import InputError
from tutor.features.multimodal.checks import SAMPLE_RATE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32 mono, SAMPLE_RATE
    duration_s: float  # what was kept
    original_duration_s: float  # the whole file (estimated from the container when cut)
    truncated: bool


def decode_audio(path: str | Path, max_s: float) -> DecodedAudio:
    import av

    p = Path(path)
    limit = int(max_s * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    truncated = False
    original_s = 0.0
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError(f"“{p.name}” has no audio track.")
            stream = container.streams.audio[0]
            if container.duration:
                original_s = container.duration / 1_000_000  # av.time_base is microseconds
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if total >= limit:
                    truncated = True
                    break
            if not truncated:
                for out in resampler.resample(None):  # flush
                    chunks.append(out.to_ndarray().reshape(-1))
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as e:  # corrupt or truncated data
        logger.info("audio %s could not be decoded: %s", p.name, e)
        raise InputError(f"“{p.name}” could not be decoded as audio; the file may be damaged. "
                         f"Please record or upload it again.") from e
    samples = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
    if samples.size > limit:
        truncated = True
    samples = samples[:limit]
    kept = samples.size / SAMPLE_RATE
    return DecodedAudio(samples, kept, max(original_s, kept), truncated)

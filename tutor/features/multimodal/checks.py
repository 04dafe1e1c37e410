"""Input checks for learner uploads: size before decoding, type by content (not by name),
decompression bombs, empty/silent/over-long audio. Every refusal is an InputError whose message
a learner can act on."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from tutor.errors import InputError

logger = logging.getLogger(__name__)

AUDIO_KINDS = ("wav", "mp3", "m4a", "ogg", "webm", "flac")
IMAGE_KINDS = ("png", "jpeg", "webp")
SAMPLE_RATE = 16_000  # Whisper's input rate
# Peak amplitude below which a recording counts as silence: -46 dBFS, far under quiet speech
# (espeak-ng and phone microphones peak around -6 to -20 dBFS) but above a muted mic's noise floor.
SILENCE_PEAK = 0.005


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _check_size(path: Path, limit_mb: float, what: str) -> int:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"The {what} could not be read; please upload it again.") from e
    if size == 0:
        raise InputError(f"The {what} is empty (0 bytes).")
    if size > limit_mb * 1e6:
        raise InputError(f"The {what} is {_mb(size)}; the limit is {limit_mb:g} MB. "
                         f"Please upload a smaller or shorter file.")
    return size


def _head(path: Path, n: int = 64) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def sniff_audio(head: bytes) -> str | None:
    """The container type from the first bytes, or None when it is no audio we accept."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: webm / matroska (browser microphone recordings)
        return "webm"
    if head[4:8] == b"ftyp":  # ISO-BMFF: m4a / mp4 audio
        return "m4a"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    return None


def sniff_image(head: bytes) -> str | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check_audio_file(path: str | os.PathLike | None, max_mb: float) -> str:
    """Size and type of an audio upload, before any decoding. Returns the sniffed kind."""
    if not path:
        raise InputError("Please record or upload a spoken question first.")
    p = Path(path)
    _check_size(p, max_mb, "audio file")
    kind = sniff_audio(_head(p))
    if kind is None:
        raise InputError(f"“{p.name}” is not an audio file I can read. Please use "
                         f"{', '.join(AUDIO_KINDS[:-1])} or {AUDIO_KINDS[-1]}.")
    return kind


def check_samples(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Refuse zero-length and silent audio (Whisper invents text for silence)."""
    if samples.size == 0:
        raise InputError("The recording is empty (0 seconds of audio). Please record again.")
    if samples.size < sample_rate // 10:
        raise InputError("The recording is shorter than a tenth of a second. Please record your question again.")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise InputError("The recording is silent. Check that the right microphone is selected and "
                         "not muted, then record again.")


def check_image_file(path: str | os.PathLike | None, max_mb: float, max_megapixels: float):
    """Size, type and pixel count of an image upload; returns the decoded RGB PIL image.

    The pixel count is read from the header before decoding, so a decompression bomb (a small
    file that expands to gigabytes) is refused without being expanded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path:
        raise InputError("Please upload or paste an image first.")
    p = Path(path)
    _check_size(p, max_mb, "image")
    kind = sniff_image(_head(p))
    if kind is None:
        raise InputError(f"“{p.name}” is not a PNG, JPEG or WebP image. Please upload a photo or screenshot "
                         f"in one of those formats.")
    too_big = (f"The image has too many pixels to process safely; the limit is {max_megapixels:g} megapixels. "
               f"Please upload a smaller image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            im = Image.open(p)
        w, h = im.size
        if w * h > max_megapixels * 1e6:
            raise InputError(too_big + f" (This one is {w}×{h}.)")
        im.load()
        im = ImageOps.exif_transpose(im)  # phone photos are often stored sideways with an EXIF flag
        return im.convert("RGB")
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError(too_big) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        logger.info("image %s could not be decoded: %s", p.name, e)
        raise InputError(f"“{p.name}” looks like a {kind.upper()} image but is damaged or incomplete. "
                         f"Please upload it again.") from e

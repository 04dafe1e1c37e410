"""The bad-upload table (issue 14): files a learner or an admin might hand the app, each generated in a
test folder (never committed), with the sentence the app must answer with. Shared by the UI tests
(tests/app/test_bad_uploads.py) and the CLI/ingest tests (tests/tutor/retrieval/test_bad_documents.py).

A case's `expect` is a fragment of the sentence shown; `refused` says whether the file must be kept
out (True) or handled with a notice (False)."""
from __future__ import annotations

import io
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tests.tutor.features.media_fixtures import SR, png_with_header_size, tone, write_wav
from tests.tutor.retrieval.conftest import make_pdf


@dataclass(frozen=True)
class BadFile:
    id: str
    name: str  # the file name the user gives it
    make: Callable[[Path], None]  # writes the file at the given path
    expect: str  # a fragment of the sentence the user sees
    refused: bool = True


# ------------------------------------------------------------------ audio and images


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _truncated_wav(p: Path) -> None:
    """A WAV cut mid-file (an interrupted upload): the header promises 3 s, the data stops after 1 s."""
    write_wav(p, tone(3.0))
    data = p.read_bytes()
    p.write_bytes(data[: 44 + 2 * SR])


def _header_only_wav(p: Path) -> None:
    """Truncated to its header: a WAV with zero samples."""
    write_wav(p, tone(1.0))
    p.write_bytes(p.read_bytes()[:44])


def _long_wav(p: Path, seconds: int = 3600, rate: int = 6000) -> None:
    """A 60-minute lecture recording, 8-bit at 6 kHz (21.6 MB: under the 25 MB limit, so its length and
    not its size is what the app must handle). Written a minute at a time to stay small in memory."""
    minute = ((tone(60.0, rate=rate) * 127) + 128).astype(np.uint8).tobytes()
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        for _ in range(seconds // 60):
            w.writeframes(minute)


def _noise_wav(p: Path, mb: float = 30.0) -> None:
    rng = np.random.default_rng(0)
    write_wav(p, rng.uniform(-0.5, 0.5, int(mb * 1e6 / 2)).astype(np.float32))


AUDIO_CASES = (
    BadFile("zero-length wav", "empty.wav", _bytes(b""), "empty (0 bytes)"),
    BadFile("header-only wav", "header.wav", _header_only_wav, "recording is empty"),
    BadFile("truncated wav", "cut.wav", _truncated_wav, "Transcribed 1.0 s", refused=False),
    BadFile("10 s of silence", "silence.wav", lambda p: write_wav(p, np.zeros(10 * SR, np.float32)), "silent"),
    BadFile("30 MB of noise", "noise.wav", _noise_wav, "30.0 MB; the limit is 25 MB"),
    BadFile("text renamed .wav", "question.wav", _bytes(b"what is a derivative?\n" * 10), "not an audio file"),
    BadFile("60-minute recording", "lecture.wav", _long_wav, "only the first 5 minutes were transcribed",
            refused=False),
)

IMAGE_CASES = (
    BadFile("decompression bomb", "bomb.png", lambda p: png_with_header_size(p, 100_000, 100_000),
            "too many pixels"),
    BadFile("20,000 x 20,000 header", "huge.png", lambda p: png_with_header_size(p, 20_000, 20_000),
            "the limit is 50 megapixels"),
    BadFile("text renamed .png", "notes.png", _bytes(b"x^2 + 2x + 1 = 0\n"), "not a PNG, JPEG or WebP image"),
    BadFile("zero-length png", "empty.png", _bytes(b""), "image is empty (0 bytes)"),
    BadFile("truncated png", "cut.png", _bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "damaged or incomplete"),
)


# ------------------------------------------------------------------ documents


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("chapter1.txt", "The chain rule.")
    return buf.getvalue()


def _js_pdf(p: Path) -> None:
    """A PDF that runs a script when opened (compressed, so only its structure shows the script)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(["The mean is the average value."]))).pages:
        writer.add_page(page)
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('hello');")})
    writer.compress_identical_objects()
    with p.open("wb") as f:
        writer.write(f)


def _pages_pdf(n: int) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(make_pdf(["x"] * n))


DOCUMENT_CASES = (
    BadFile("10,000-page PDF", "book.pdf", _pages_pdf(10_000), "10,000 pages; the limit is 2,000"),
    BadFile("PDF with JavaScript", "form.pdf", _js_pdf, "contains JavaScript"),
    BadFile("zip renamed .pdf", "notes.pdf", _bytes(_zip()), "not a PDF"),
    BadFile("5 MB on one line, no spaces", "blob.md", _bytes(b"# Blob\n\n" + b"A" * 5_000_000),
            "characters without a space"),
    BadFile("text renamed .pdf", "essay.pdf", _bytes(b"An essay about limits.\n"), "not a PDF"),
    BadFile("binary renamed .md", "tool.md", _bytes(b"MZ\x90\x00\x03\x00\x00\x00" * 100), "not a text file"),
    BadFile("zero-length md", "empty.md", _bytes(b""), "empty"),
    BadFile("executable", "setup.exe", _bytes(b"MZ\x90\x00"), "'.exe' files are not supported"),
)

# Handled, not refused: 5 MB of real words on one line is just a long document.
ONE_LINE_WORDS = BadFile("5 MB of words on one line", "wall.md",
                         _bytes(b"# Wall of text\n\n" + b"gradient descent takes small steps " * 150_000),
                         "wall.md", refused=False)


def make(case: BadFile, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.name
    case.make(path)
    return path

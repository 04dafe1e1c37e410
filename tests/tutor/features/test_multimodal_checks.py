"""Upload checks: size before decoding, type by content, damaged files, bombs, empty/silent/long audio."""
import io

import numpy as np
import pytest
from PIL import Image

from tests.tutor.features.media_fixtures import png_with_header_size, tone, write_wav
from tutor.errors import InputError
from tutor.features.multimodal.audio import decode_audio
from tutor.features.multimodal.checks import (
    check_audio_file, check_image_file, check_samples, sniff_audio, sniff_image,
)


@pytest.mark.parametrize("head,kind", [
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"), (b"OggS\x00\x02", "ogg"), (b"\x1a\x45\xdf\xa3\x9f", "webm"),
    (b"\x00\x00\x00\x20ftypM4A ", "m4a"), (b"ID3\x04\x00", "mp3"), (b"\xff\xfb\x90\x64", "mp3"),
    (b"fLaC\x00", "flac"), (b"%PDF-1.7", None), (b"", None), (b"\x89PNG\r\n\x1a\n", None),
])
def test_audio_is_recognised_by_content(head, kind):
    assert sniff_audio(head) == kind


@pytest.mark.parametrize("head,kind", [
    (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff\xe0", "jpeg"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
    (b"GIF89a", None), (b"RIFF\x00\x00\x00\x00WAVE", None), (b"<svg", None),
])
def test_image_is_recognised_by_content(head, kind):
    assert sniff_image(head) == kind


def test_audio_over_the_size_limit_is_refused_before_decoding(tmp_path):
    # Not even a valid file after its header: the size check must come first.
    p = tmp_path / "long.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * 30_000)
    with pytest.raises(InputError, match=r"0\.0 MB; the limit is 0\.02 MB"):
        check_audio_file(p, max_mb=0.02)


@pytest.mark.parametrize("content,msg", [
    (b"", "empty"), (b"hello, this is text", "not an audio file"), (b"%PDF-1.4 ...", "not an audio file"),
])
def test_wrong_or_empty_audio_file(tmp_path, content, msg):
    p = tmp_path / "q.wav"
    p.write_bytes(content)
    with pytest.raises(InputError, match=msg):
        check_audio_file(p, 25)


def test_no_audio_given():
    with pytest.raises(InputError, match="record or upload"):
        check_audio_file(None, 25)


def test_corrupt_audio_is_a_clear_message(tmp_path):
    p = tmp_path / "broken.ogg"
    p.write_bytes(b"OggS" + bytes(range(256)) * 20)
    assert check_audio_file(p, 25) == "ogg"
    with pytest.raises(InputError, match="could not be decoded"):
        decode_audio(p, 300)


def test_zero_length_and_silent_audio(tmp_path):
    empty = decode_audio(write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32)), 300)
    with pytest.raises(InputError, match="empty"):
        check_samples(empty.samples)
    silent = decode_audio(write_wav(tmp_path / "silent.wav", np.zeros(16_000 * 2, np.float32)), 300)
    assert silent.duration_s == pytest.approx(2.0)
    with pytest.raises(InputError, match="silent"):
        check_samples(silent.samples)
    check_samples(decode_audio(write_wav(tmp_path / "tone.wav", tone(1.0)), 300).samples)  # no error


def test_long_audio_is_cut_at_the_limit_without_decoding_it_all(tmp_path):
    p = write_wav(tmp_path / "long.wav", tone(6.0, rate=44_100), rate=44_100)  # resampled to 16 kHz on the way
    d = decode_audio(p, max_s=2.5)
    assert d.truncated and d.duration_s == pytest.approx(2.5)
    assert d.original_duration_s == pytest.approx(6.0, abs=0.05)
    full = decode_audio(p, max_s=300)
    assert not full.truncated and full.duration_s == pytest.approx(6.0, abs=0.01)
    assert full.samples.dtype == np.float32 and 0.25 < float(np.abs(full.samples).max()) <= 0.31


def _image_bytes(fmt: str, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepted_images_decode_to_rgb(tmp_path, fmt):
    p = tmp_path / f"x.{fmt.lower()}"
    p.write_bytes(_image_bytes(fmt))
    im = check_image_file(p, 10, 50)
    assert im.mode == "RGB" and im.size == (40, 30)


def test_image_type_comes_from_content_not_name(tmp_path):
    p = tmp_path / "photo.png"
    p.write_bytes(_image_bytes("GIF"))
    with pytest.raises(InputError, match="not a PNG, JPEG or WebP"):
        check_image_file(p, 10, 50)
    q = tmp_path / "photo.txt"  # a real PNG with an odd name is fine
    q.write_bytes(_image_bytes("PNG"))
    assert check_image_file(q, 10, 50).size == (40, 30)


def test_truncated_image_is_a_clear_message(tmp_path):
    data = _image_bytes("JPEG", (400, 300))
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="damaged or incomplete"):
        check_image_file(p, 10, 50)


def test_image_over_the_size_limit(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(_image_bytes("PNG", (300, 300)))
    with pytest.raises(InputError, match="the limit is 0.0001 MB"):
        check_image_file(p, 0.0001, 50)


@pytest.mark.parametrize("side", [10_000, 40_000])  # above our limit; above Pillow's own bomb limit
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    p = png_with_header_size(tmp_path / "bomb.png", side, side)
    assert p.stat().st_size < 200
    with pytest.raises(InputError, match="too many pixels"):
        check_image_file(p, 10, 50)


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), "white")
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    p = tmp_path / "phone.jpg"
    im.save(p, format="JPEG", exif=exif)
    assert check_image_file(p, 10, 50).size == (20, 40)

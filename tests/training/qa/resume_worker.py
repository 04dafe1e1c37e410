"""`python -m tests.training.qa.resume_worker ROOT OUT DELAY`: `qa generate` with the app's parts around a slow
fake backend, for the kill -9 resume test (a real process, killed for real)."""
import sys
from pathlib import Path

from tests.training.qa.fixtures import SlowFake, app_cfg, hash_embedder
from training.__main__ import main as training_main
from training.wiring import build_qa_parts


def main() -> int:
    root, out, delay = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    import training.qa.cli as cli

    parts = build_qa_parts(app_cfg(root / "app", root / "kb"), backend=SlowFake(delay_s=delay),
                           embedder=hash_embedder())
    cli.default_parts_factory = lambda: (lambda: parts)
    return training_main(["qa", "generate", "--no-progress", "--set", f"out_dir={out}", "--set", "concurrency=2"])


if __name__ == "__main__":
    sys.exit(main())

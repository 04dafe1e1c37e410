"""`python -m tests.training.qa.run_worker ROOT DELAY qa ARGS...`: the training CLI with the app's parts built
around a fake backend and a hash embedder (ROOT holds kb/ as fixtures.small_kb makes it), so the admin view's
launcher can start a real process without a model. DELAY: seconds per model request (a slower run to watch)."""
import sys
from pathlib import Path

from tests.training.qa.fixtures import SlowFake, app_cfg, hash_embedder
from training.__main__ import main as training_main
from training.wiring import build_qa_parts


def main() -> int:
    root, delay = Path(sys.argv[1]), float(sys.argv[2])
    import training.qa.cli as cli

    def parts():
        return build_qa_parts(app_cfg(root / "app", root / "kb"), backend=SlowFake(delay_s=delay),
                              embedder=hash_embedder())

    cli.default_parts_factory = lambda: parts
    return training_main(sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())

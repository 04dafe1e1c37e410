"""`python -m bench all|retrieval|chat [--quick]`: run benchmarks; each prints one JSON line."""
from __future__ import annotations

import json
import subprocess
import sys

BENCHES = ["retrieval", "chat", "training", "speech", "ocr", "quiz", "study_plan", "metrics", "tutor_eval", "serving",
           "qa_pipeline"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    names = BENCHES if argv[0] == "all" else [argv[0]]
    extra = argv[1:]
    results = []
    rc = 0
    for name in names:
        if name not in BENCHES:
            print(f"unknown bench {name!r}; choose from: all, {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        # Each bench in its own process: peak RSS and thread settings do not leak between them.
        proc = subprocess.run([sys.executable, "-m", f"bench.{name}", *extra], capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            print(f"bench {name} failed (exit {proc.returncode})", file=sys.stderr)
            rc = 1
            continue
        results.append(json.loads(lines[-1]))
        print(lines[-1], flush=True)
    if len(names) > 1:
        print(json.dumps({"bench": "all", "results": results}))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

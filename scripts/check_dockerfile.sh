#!/usr/bin/env bash
# Catches drift between the Dockerfile and scripts/setup.sh: both must install the same packages
# (requirement files and pinned name==version lines, with the same --no-deps flags).
#   scripts/check_dockerfile.sh            compare the pip lines of both files (a second; run by .ci/run)
#   scripts/check_dockerfile.sh --replay   also replay the Dockerfile's pip install step in a clean venv
#                                          with `pip install --dry-run` (resolution from index metadata;
#                                          2.5 min measured, so not in CI)
# No container runtime is needed: the build machines have no Docker engine; Debian's podman builds there
# with --isolation chroot but cannot pull the python base image (no registry access) nor run containers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3 || command -v python3.11)}

# Prints one line per install: "<package spec or -r file> [no-deps]", sorted.
pip_lines() {
  "$PY" - "$1" <<'EOF'
import re, shlex, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
out = set()
for cmd in re.split(r"&&|;|\n", text):
    words = shlex.split(cmd, comments=True) if "pip" in cmd else []
    if "install" not in words or not any(w.endswith("pip") or w == "pip" for w in words):
        continue
    args = words[words.index("install") + 1:]
    nodeps = " no-deps" if "--no-deps" in args else ""
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in ("--index-url", "--extra-index-url", "-i"):
            skip = True
        elif a == "-r":
            out.add(f"-r {args[i + 1]}{nodeps}")
            skip = True
        elif not a.startswith("-") and "==" in a:
            out.add(a + nodeps)
for line in sorted(out):
    print(line)
EOF
}

docker=$(pip_lines Dockerfile)
setup=$(pip_lines scripts/setup.sh)
# setup.sh installs requirements-dev.txt with --dev, which includes requirements.txt: compare runtime only.
setup=$(grep -v '^-r requirements-dev.txt' <<<"$setup")
# The Dockerfile installs torch from the CPU wheel index first; its pin must be requirements.txt's.
torch_docker=$(grep '^torch==' <<<"$docker" || true)
docker=$(grep -v '^torch==' <<<"$docker")
if [[ -n "$torch_docker" ]] && ! grep -qx "$torch_docker" requirements.txt; then
  echo "check_dockerfile: the Dockerfile pins $torch_docker but requirements.txt has $(grep '^torch==' requirements.txt)" >&2
  exit 1
fi
if [[ "$docker" != "$setup" ]]; then
  echo "check_dockerfile: the Dockerfile and scripts/setup.sh install different packages:" >&2
  diff <(echo "$docker") <(echo "$setup") | sed 's/^</  Dockerfile:/; s/^>/  setup.sh:  /' >&2 || true
  exit 1
fi
echo "check_dockerfile: the Dockerfile and scripts/setup.sh install the same $(wc -l <<<"$docker") package lines${torch_docker:+ (+ $torch_docker from the CPU index)}."

if [[ "${1:-}" == "--replay" ]]; then
  venv=$(mktemp -d)/venv
  trap 'rm -rf "$(dirname "$venv")"' EXIT
  "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  # The Dockerfile's install RUN step, word for word, in the clean venv. pip resolves each install
  # (versions, dependency conflicts) from the index's metadata without installing (--dry-run), so no
  # GB of wheels is downloaded. TORCH_INDEX: the Dockerfile's CPU index, unless overridden (the build
  # machines reach only PyPI: TORCH_INDEX=https://pypi.org/simple).
  step=$("$PY" - <<'EOF'
t = open("Dockerfile").read().replace("\\\n", " ")
print(next(line[4:] for line in t.splitlines() if line.startswith("RUN pip install")))
EOF
)
  step=${step//pip install/pip install --dry-run --ignore-installed -q}
  echo "check_dockerfile: replaying: $step"
  TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu} PATH="$venv/bin:$PATH" bash -euo pipefail -c "$step"
  echo "check_dockerfile: the Dockerfile's install step resolves in a clean venv."
fi

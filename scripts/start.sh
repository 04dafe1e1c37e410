#!/usr/bin/env bash
# One command: set up (if needed) and start SmartLearn on the embedded models at http://127.0.0.1:7860.
# SMARTLEARN_SERVER_SHARE=1 (or --share) also prints a public Gradio share link.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python -m app "$@"

#!/usr/bin/env bash
# One command: set up (if needed, with test tools and chromium) and run the whole test suite:
# unit, integration (real embedded models) and end-to-end (headless chromium) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "test.sh: pytest collected no tests"; fi
exit $rc

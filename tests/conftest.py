"""Test-wide settings. Set before anything imports transformers/huggingface_hub: tests never download."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["ANONYMIZED_TELEMETRY"] = "False"  # chromadb: no posthog calls
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# The app's own SMARTLEARN_* settings from a developer's shell must not leak into tests.
for _k in list(os.environ):
    if _k.startswith("SMARTLEARN_"):
        del os.environ[_k]

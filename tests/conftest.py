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


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """The real app on the embedded models, shared by the integration and e2e tests of a run."""
    from bench.live import LiveApp

    app = LiveApp(tmp_path_factory.mktemp("live-app-data"))
    try:
        app.wait_http()
        st = app.wait_ready()
        assert st["state"] == "ready", f"app not ready: {st['message']}\n{app.log()[-3000:]}"
        yield app
    finally:
        app.stop()

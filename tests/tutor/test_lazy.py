"""The load-once holder behind the speech, OCR and caption engines."""
import threading
import time

import pytest

from tutor.lazy import Lazy


def test_concurrent_callers_share_one_load():
    calls = []

    def load():
        calls.append(1)
        time.sleep(0.05)  # long enough for every thread to arrive while the first one loads
        return object()

    lazy = Lazy(load, "thing")
    got = []
    threads = [threading.Thread(target=lambda: got.append(lazy.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(g) for g in got}) == 1 and lazy.loaded
    assert lazy.load() == 0.0  # already loaded: no time spent


def test_a_failed_load_keeps_nothing_and_the_next_call_retries():
    attempts = []

    def load():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("package missing")
        return "model"

    lazy = Lazy(load, "thing")
    with pytest.raises(RuntimeError, match="package missing"):
        lazy.get()
    assert not lazy.loaded
    assert lazy.load() > 0.0 and lazy.get() == "model" and len(attempts) == 2

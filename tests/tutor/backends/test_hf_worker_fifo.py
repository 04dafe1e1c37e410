"""The transformers backend's generation slot is FIFO (tutor/backends/hf_worker.py): requests that wait for the
model get it in arrival order, and the app's admission gate gives that backend one slot, so a second learner
is told its place in line instead of waiting silently on a lock."""
from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from tests.polling import WAIT, until
from tests.tutor.backends.conftest import model_cfg
from tutor.backends import generate
from tutor.backends.hf import TransformersBackend
from tutor.backends.hf_worker import GenerationWorker
from tutor.config import AppConfig
from tutor.serving import QueuedBackend, make_gate
from tutor.types import Completion, GenerationParams, GenerationRequest, Message, QueuePosition





class _Model:
    """Stands in for the peft model: each generate records its name, then runs until the test lets it end."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.release: dict[str, threading.Event] = {}

    def generate(self, name: str) -> None:
        self.order.append(name)
        self.release[name].wait(WAIT)


def test_waiting_requests_get_the_model_in_arrival_order():
    model = _Model()
    state = SimpleNamespace(model=model, adapters=(), device="cpu")
    worker = GenerationWorker()
    names = [f"r{i}" for i in range(5)]
    futures: dict[str, object] = {}

    def submit(name: str) -> None:
        future, result = worker.submit(state, None, GenerationParams(), {"name": name}, SimpleNamespace(end=None))
        futures[name] = future

    threads = []
    for i, name in enumerate(names):
        model.release[name] = threading.Event()
        t = threading.Thread(target=submit, args=(name,), daemon=True)
        t.start()
        threads.append(t)
        # the next request arrives only once this one runs or waits: arrival order is the list's order
        until(lambda: worker._gate.state().running + worker._gate.state().waiting == i + 1, f"{name} to arrive")
    for name in names:
        until(lambda: model.order[-1:] == [name], f"{name} to run")
        model.release[name].set()
    for t in threads:
        t.join(WAIT)
    for name in names:
        futures[name].result(WAIT)
    assert model.order == names
    assert worker._gate.state().running == 0


def test_the_app_gives_the_transformers_backend_one_slot(tmp_path):
    cfg = AppConfig()
    backend = TransformersBackend(cfg.model, Path(tmp_path))  # constructed only: nothing loads
    gate = make_gate(cfg.serving, backend)
    assert gate is not None and gate.slots == 1 and gate.max_waiting == cfg.serving.max_waiting


def test_a_second_request_on_the_tiny_model_is_told_its_place(tiny_model_dir, tmp_path):
    """The real transformers path (tiny Llama, fp32 on CPU): while one answer is being read, the next request
    is told it is next in line, then gets the same answer it gets alone."""
    engine = TransformersBackend(model_cfg(tiny_model_dir), tmp_path)
    backend = QueuedBackend(engine, make_gate(AppConfig().serving, engine))
    request = GenerationRequest((Message("user", "what is 2 + 2 ?"),), GenerationParams(max_new_tokens=8))
    alone = generate(backend, request).text
    first = backend.stream(request)
    next(first)  # the first learner's answer has started and holds the one slot
    second = backend.stream(GenerationRequest(request.messages, request.params, report_queue=True))
    assert next(second) == QueuePosition(1)
    rest = list(first)
    assert isinstance(rest[-1], Completion)
    items = list(second)
    assert not any(isinstance(x, QueuePosition) for x in items)
    assert items[-1].text == alone

"""The base of backends that wrap another one (the metered backend, the queued backend): the wrapped
backend's queries pass through, and so does anything else on it (``enqueue`` and ``fail_with`` on a
test's FakeBackend, ``slots`` on an engine), by attribute delegation."""
from __future__ import annotations

from typing import Any

from tutor.types import BackendInfo


class BackendWrapper:
    """Delegates everything but ``stream`` (which each wrapper defines) to ``inner``."""

    _OWN: tuple[str, ...] = ("inner",)  # attributes the wrapper keeps; a subclass adds its own

    def __init__(self, backend: Any) -> None:
        object.__setattr__(self, "inner", backend)

    def __getattr__(self, name: str) -> Any:  # only called for names this class does not define
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # Settings of the wrapped backend (a test scripting FakeBackend.fail_with) belong to it.
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def load(self) -> BackendInfo:
        return self.inner.load()

    def info(self) -> BackendInfo:
        return self.inner.info()

    def adapters(self) -> tuple[str, ...]:
        return self.inner.adapters()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

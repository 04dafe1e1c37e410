"""The protocol every LLM backend implements, and helpers shared by all of them."""
from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from tutor.types import BackendInfo, Completion, GenerationRequest, StreamItem


@runtime_checkable
class LLMBackend(Protocol):
    """A chat model that streams text, with LoRA adapters picked per request.

    Implementations load weights lazily (first call to `load()` or `stream()`), never at import
    or construction, and are safe to call from several threads at once: requests with different
    adapters must not interfere.
    """

    def load(self) -> BackendInfo:
        """Load weights (idempotent, thread-safe). Raises ModelLoadError / BackendUnavailable."""
        ...

    def info(self) -> BackendInfo:
        """What is loaded (or configured, before load)."""
        ...

    def adapters(self) -> tuple[str, ...]:
        """Names of the LoRA adapters that requests may pick."""
        ...

    def count_tokens(self, text: str) -> int:
        ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        """Yield text deltas (str), then exactly one Completion as the last item."""
        ...


def generate(backend: LLMBackend, request: GenerationRequest) -> Completion:
    """Run a request to the end and return its Completion."""
    final: Completion | None = None
    for item in backend.stream(request):
        if isinstance(item, Completion):
            final = item
    assert final is not None, "backend stream ended without a Completion"
    return final

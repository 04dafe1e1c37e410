"""Load-once holders for heavy models: the first caller loads, concurrent callers wait for that one load,
later callers get the loaded object at once. A failed load keeps nothing, so the next call tries again
(a missing package installed meanwhile, a model folder fixed)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


class Lazy(Generic[T]):
    def __init__(self, load: Callable[[], T], what: str) -> None:
        self._load = load
        self.what = what  # for the log line
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        self.load()
        assert self._value is not None
        return self._value

    def load(self) -> float:
        """Load if not loaded yet; the seconds this call spent loading (0.0 when it was already loaded)."""
        if self._value is not None:
            return 0.0
        with self._lock:
            if self._value is not None:  # loaded by another thread while this one waited
                return 0.0
            t0 = time.perf_counter()
            value = self._load()
            seconds = time.perf_counter() - t0
            self._value = value
            logger.info("%s loaded in %.2f s", self.what, seconds)
            return seconds

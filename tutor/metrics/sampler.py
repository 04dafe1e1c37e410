"""The background resource sampler: CPU, memory, this process's RSS, disk, and GPU memory and
utilisation, every `interval_s` seconds into the metrics store; retention runs hourly.

Cost: one psutil round (a few /proc reads) per interval, so ~0.1 ms of CPU every 5 s, far below
the 1%-of-a-core budget (bench/metrics.py measures it). GPU readings come from torch only when
torch is already imported by the model backend (the sampler never imports it: that alone costs
~1 s and 300 MB), and from NVML for utilisation when nvidia-ml-py is installed.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Callable
from pathlib import Path

from tutor.metrics.records import ResourceSample
from tutor.metrics.retention import downsample_samples
from tutor.metrics.store import MetricsStore

logger = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0


def read_sample(disk_path: Path, now: float | None = None) -> ResourceSample:
    import psutil

    proc = psutil.Process(os.getpid())
    path = disk_path if disk_path.exists() else Path(disk_path.anchor or "/")
    used, total, util = _gpu()
    return ResourceSample(
        sampled_at=time.time() if now is None else now,
        # interval=None: usage since the previous call (non-blocking); the first call reads 0.
        cpu_percent=float(psutil.cpu_percent(interval=None)),
        memory_percent=float(psutil.virtual_memory().percent),
        process_rss_mb=proc.memory_info().rss / 2**20,
        disk_percent=float(psutil.disk_usage(str(path)).percent),
        gpu_memory_used_mb=used,
        gpu_memory_total_mb=total,
        gpu_utilization_percent=util,
    )


def _gpu() -> tuple[float | None, float | None, float | None]:
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None, None
    try:
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            util = None
            try:
                util = float(torch.cuda.utilization())  # needs NVML (nvidia-ml-py)
            except Exception:  # noqa: BLE001 - optional reading
                pass
            return (total - free) / 2**20, total / 2**20, util
        mps = getattr(torch, "mps", None)
        if mps is not None and torch.backends.mps.is_available():
            return mps.current_allocated_memory() / 2**20, mps.recommended_max_memory() / 2**20, None
    except Exception:  # noqa: BLE001 - a GPU reading must never stop the sampler
        logger.debug("GPU reading failed", exc_info=True)
    return None, None, None


class ResourceSampler:
    """A daemon thread; `latest` holds the newest reading for the live charts."""

    def __init__(self, store: MetricsStore, interval_s: float, disk_path: Path, *, raw_hours: float = 24.0,
                 downsample_s: float = 300.0, retention_days: float = 7.0,
                 also_hourly: Callable[[], object] | None = None) -> None:
        self.store = store
        self.also_hourly = also_hourly  # more retention work on the same hourly beat (the monitor's records)
        self.interval_s = interval_s
        self.disk_path = disk_path
        self.raw_hours, self.downsample_s, self.retention_days = raw_hours, downsample_s, retention_days
        self.latest: ResourceSample | None = None
        self.samples_taken = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_retention = 0.0

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sample_once(self) -> ResourceSample:
        s = read_sample(self.disk_path)
        self.latest = s
        self.store.record_sample(s)
        self.samples_taken += 1
        return s

    def _run(self) -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # prime: the first reading is relative to this one
        while not self._stop.wait(self.interval_s):
            try:
                self.sample_once()
                if time.monotonic() - self._last_retention > RETENTION_EVERY_S:
                    self._last_retention = time.monotonic()
                    downsample_samples(self.store, self.raw_hours, self.downsample_s, self.retention_days)
                    if self.also_hourly is not None:
                        self.also_hourly()
            except Exception:  # noqa: BLE001 - the sampler must outlive any one bad reading
                logger.exception("resource sample failed")

"""Threshold alerts and the health score the admin tab shows at the top.

Health score (0-100): start at 100; each warning costs 15 points and each critical alert 35;
a metrics-database problem counts as critical. Floors at 0. So one warning reads 85 ("watch"),
one critical 65, two criticals 30: simple enough for an admin to recompute by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from tutor.config import MonitoringConfig
from tutor.metrics.records import ResourceSample

WARNING_COST = 15
CRITICAL_COST = 35


@dataclass(frozen=True)
class Alert:
    level: str  # "warning" | "critical"
    metric: str
    value: float
    threshold: float
    message: str


@dataclass(frozen=True)
class Health:
    score: int
    alerts: tuple[Alert, ...]

    @property
    def label(self) -> str:
        return "healthy" if self.score >= 90 else "watch" if self.score >= 60 else "unhealthy"


def _check(metric: str, value: float | None, warn: float, crit: float, unit: str, what: str) -> Alert | None:
    if value is None:
        return None
    if value >= crit:
        return Alert("critical", metric, value, crit, f"{what} is {value:.0f}{unit} (critical at {crit:g}{unit}).")
    if value >= warn:
        return Alert("warning", metric, value, warn, f"{what} is {value:.0f}{unit} (warning at {warn:g}{unit}).")
    return None


def evaluate(sample: ResourceSample | None, latency_p95_s: float | None, cfg: MonitoringConfig,
             store_problem: str | None = None) -> Health:
    alerts: list[Alert | None] = []
    if sample is not None:
        alerts.append(_check("cpu_percent", sample.cpu_percent, cfg.cpu_warn, cfg.cpu_critical, "%", "CPU use"))
        alerts.append(_check("memory_percent", sample.memory_percent, cfg.memory_warn, cfg.memory_critical, "%",
                             "Memory use"))
        if sample.gpu_memory_used_mb is not None and sample.gpu_memory_total_mb:
            pct = 100.0 * sample.gpu_memory_used_mb / sample.gpu_memory_total_mb
            alerts.append(_check("gpu_memory_percent", pct, cfg.gpu_memory_warn, cfg.gpu_memory_critical, "%",
                                 "GPU memory use"))
    if latency_p95_s is not None:
        alerts.append(_check("latency_p95_ms", latency_p95_s * 1000, cfg.latency_warn_ms, cfg.latency_critical_ms,
                             " ms", "Response time p95"))
    if store_problem:
        alerts.append(Alert("critical", "metrics_store", 1.0, 1.0, store_problem))
    found = tuple(a for a in alerts if a is not None)
    score = 100 - sum(CRITICAL_COST if a.level == "critical" else WARNING_COST for a in found)
    return Health(max(0, score), found)

"""Prometheus exposition of the monitor's numbers (prometheus-client's text format).

A custom collector reads the statistics at scrape time, so nothing is counted twice and the
numbers match the admin tab. Latency is exposed as the summary quantiles we already compute.
"""
from __future__ import annotations

import time

from tutor.metrics.monitor import Monitor

SCRAPE_WINDOW_S = 3600.0  # per-model figures cover the last hour


def render(monitor: Monitor) -> tuple[bytes, str]:
    """(body, content type) for a GET /metrics."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    class _Collector:
        def collect(self):
            labels = ["model", "adapter", "operation"]
            calls = GaugeMetricFamily("smartlearn_model_calls", "Model calls in the last hour", labels=labels)
            success = GaugeMetricFamily("smartlearn_model_success_ratio", "Share of successful calls, last hour",
                                        labels=labels)
            latency = GaugeMetricFamily("smartlearn_model_latency_seconds", "Latency quantiles of successful calls",
                                        labels=labels + ["quantile"])
            tps = GaugeMetricFamily("smartlearn_model_tokens_per_second", "Mean decode speed", labels=labels)
            for s in monitor.stats.statistics(time.time() - SCRAPE_WINDOW_S):
                lv = [s.model, s.adapter or "", s.operation or ""]
                calls.add_metric(lv, s.calls)
                success.add_metric(lv, s.success_rate)
                for q, v in (("0.5", s.latency_p50_s), ("0.95", s.latency_p95_s), ("0.99", s.latency_p99_s)):
                    if v is not None:
                        latency.add_metric(lv + [q], v)
                if s.tokens_per_s is not None:
                    tps.add_metric(lv, s.tokens_per_s)
            yield from (calls, success, latency, tps)
            latest = monitor.sampler.latest
            if latest is not None:
                for name, value, doc in (
                    ("smartlearn_cpu_percent", latest.cpu_percent, "Machine CPU use"),
                    ("smartlearn_memory_percent", latest.memory_percent, "Machine memory use"),
                    ("smartlearn_process_rss_megabytes", latest.process_rss_mb, "App resident memory"),
                    ("smartlearn_gpu_memory_used_megabytes", latest.gpu_memory_used_mb, "GPU memory used"),
                ):
                    if value is not None:
                        g = GaugeMetricFamily(name, doc)
                        g.add_metric([], value)
                        yield g
            health = GaugeMetricFamily("smartlearn_health_score", "Admin health score, 0-100")
            health.add_metric([], monitor.health().score)
            yield health

    registry = CollectorRegistry()
    registry.register(_Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST

"""Fixtures of the metrics tests: a fresh store in a temporary folder, and record builders."""
from __future__ import annotations

from pathlib import Path

import pytest

from tutor.metrics import MetricsStore, ModelCall


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "metrics.sqlite3"  # parent does not exist yet: the store creates it


@pytest.fixture
def store(db_path: Path) -> MetricsStore:
    s = MetricsStore(db_path)
    assert s.health() is None
    return s


def make_call(**overrides) -> ModelCall:
    values = dict(
        model="smollm2-135m", adapter=None, operation="ask", user="ada", started_at=1_700_000_000.0,
        ttft_s=0.1, latency_s=1.0, prompt_tokens=50, completion_tokens=21, tokens_per_s=20.0,
        success=True, error_type=None, quality=None,
    )
    values.update(overrides)
    return ModelCall(**values)

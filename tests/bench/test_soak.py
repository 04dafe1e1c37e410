"""The soak bench's arithmetic (the run itself starts the real app: `python -m bench.soak --quick`)."""
import pytest

from bench.soak import Tally, growth_mb_per_hour


def test_rss_growth_is_the_slope_after_warm_up():
    # warm-up: a jump from 500 to 900 MB (model load), then a leak of 36 MB per hour
    samples = [(float(t), 500.0 + 400.0 * (t >= 30)) for t in range(0, 30, 2)]
    samples += [(float(t), 900.0 + 36.0 * (t - 30) / 3600) for t in range(30, 600, 2)]
    assert growth_mb_per_hour(samples) == pytest.approx(36.0, abs=0.5)
    flat = [(float(t), 700.0) for t in range(0, 100, 2)]
    assert growth_mb_per_hour(flat) == pytest.approx(0.0, abs=0.01)
    assert growth_mb_per_hour(flat[:5]) is None, "too few samples after warm-up to say"


def test_tally_counts_refusals_apart_from_failures():
    t = Tally()
    t.count("chat", "answered")
    t.count("chat", "refused")
    t.count("quiz", "failure", "HTTP 500")
    assert t.sent == {"chat": 2, "quiz": 1} and t.answered == {"chat": 1} and t.refused == {"chat": 1}
    assert t.failures == ["quiz: HTTP 500"]

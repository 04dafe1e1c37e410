"""The soak bench's arithmetic (the run itself starts the real app: `python -m bench.soak --quick`)."""
import pytest

from bench import soak
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


def test_rss_series_keeps_one_point_per_interval_from_the_first_sample():
    samples = [(1000.0 + 2 * i, 500.0 + i) for i in range(61)]  # 2 minutes, a sample every 2 s
    series = soak.rss_series(samples, every_s=30.0)
    assert [t for t, _ in series] == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert series[1] == [30.0, 515.0]
    assert soak.rss_series([]) == []


def test_chart_is_a_self_contained_page(tmp_path):
    samples = [(1000.0 + 2 * i, 500.0 + i) for i in range(10)]
    soak.write_chart(tmp_path / "rss.html", samples, 12.5)
    page = (tmp_path / "rss.html").read_text()
    assert "growth after warm-up: 12.5 MB" in page and "<script src=\"http" not in page  # plotly.js inside, no CDN

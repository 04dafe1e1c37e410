"""Per-model statistics, comparison, recommendation and trends over the recorded model calls.

Owns the statistics the admin tab and the REST API show. Numbers are computed from an in-memory
columnar copy of ``model_calls`` (``CallTable``, numpy), refreshed incrementally by row id:
SQLite cannot compute exact percentiles without sorting every row on each request (measured
0.7-1.7 s at 1M rows on 2 cores), while numpy over cached columns takes ~0.1-0.2 s. A delete
(clear, retention) is noticed by a row-count check and reloads the copy.

Definitions (what an admin reads, stated once here):
- Timing percentiles are over successful calls, linear interpolation between closest ranks
  (numpy's default); a failed call that returned fast would otherwise look like a fast answer.
- quality: mean of the quality scores recorded with calls (0-1: quiz items passing their
  checks, interview rubric score / 10, ...); where a group has none, the thumbs-up share of its
  votes; None when neither exists.
- Recommendation scores every eligible (model, adapter) on three 0-1 parts:
  speed = fastest p50 latency among candidates / this p50 (1 for the fastest, scale-free);
  reliability = success rate; quality = as above, 0.5 (neutral) when unknown.
  Priorities: speed / quality / reliable use that part alone (ties broken by the balanced
  score); balanced = 0.3 speed + 0.4 quality + 0.3 reliability (the original's weights).
"""
from __future__ import annotations

import functools
import math
import sqlite3
import threading
import time
from dataclasses import dataclass

from tutor.metrics.store import MetricsStore

PRIORITIES = ("speed", "quality", "reliable", "balanced")
BALANCED_WEIGHTS = {"speed": 0.3, "quality": 0.4, "reliability": 0.3}
ANY = "*"  # trend(): match every adapter
# Calls of the speech, OCR and caption models (tutor/features/multimodal): listed in the statistics, but not
# candidates when comparing or recommending language models (a 40 ms OCR read is not a faster tutor).
MEDIA_OPERATIONS = frozenset({"speech", "ocr", "caption"})
TREND_METRICS = ("calls", "success_rate", "latency_p50", "latency_p95", "ttft_p50", "tokens_per_s", "quality")


@dataclass(frozen=True)
class ModelStats:
    model: str
    adapter: str | None
    operation: str | None  # None = all operations of this model/adapter together
    calls: int
    successes: int
    success_rate: float
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    tokens_per_s: float | None  # mean decode speed of successful calls
    quality: float | None  # see the module docstring
    quality_source: str  # "scores" | "thumbs" | "none"
    thumbs_up: int
    thumbs_down: int

    @property
    def label(self) -> str:
        return self.model if self.adapter is None else f"{self.model}+{self.adapter}"


@dataclass(frozen=True)
class Ranking:
    fastest: str | None
    most_reliable: str | None
    best_quality: str | None
    best_overall: str | None


@dataclass(frozen=True)
class Comparison:
    models: tuple[ModelStats, ...]  # one row per (model, adapter), all operations
    ranking: Ranking


@dataclass(frozen=True)
class Candidate:
    label: str
    score: float
    speed: float
    quality: float
    reliability: float
    calls: int


@dataclass(frozen=True)
class Recommendation:
    priority: str
    model: str | None  # the label of the recommended model+adapter; None when nobody is eligible
    score: float | None
    reason: str  # a sentence for the admin
    candidates: tuple[Candidate, ...]  # eligible ones, best first
    ineligible: tuple[str, ...]  # labels with too few calls


@dataclass(frozen=True)
class TrendPoint:
    start: float  # bucket start, unix seconds
    value: float | None
    n: int  # calls in the bucket


class CallTable:
    """A numpy copy of model_calls for fast statistics; thread-safe, refreshed on each use.

    One set of columns per (model, adapter, operation), each sorted by start time, so a time
    window is two binary searches and a slice instead of a mask over every row.
    """

    # A delete made by another process is noticed by a full row count; at most this often,
    # because counting 1M rows costs ~0.1 s. Deletes made through this app invalidate at once.
    RECOUNT_EVERY_S = 60.0

    def __init__(self, store: MetricsStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._reset()

    def snapshot(self) -> tuple[list[tuple[str, str | None, str]], dict[int, dict]]:
        """(keys, groups): keys[code] = (model, adapter, operation); groups[code] = columns
        t, ok, lat, ttft, tps, q (numpy, sorted by t; NaN = not measured)."""
        import numpy as np

        with self._lock:
            recount = time.monotonic() - self._counted_at > self.RECOUNT_EVERY_S

            def read(conn: sqlite3.Connection):
                conn.execute("BEGIN")  # one snapshot for the count and the rows
                try:
                    if recount:
                        (kept,) = conn.execute("SELECT COUNT(*) FROM model_calls WHERE id <= ?",
                                               (self._max_id,)).fetchone()
                        if kept != self._n:  # rows were deleted elsewhere: start over
                            self._reset()
                        self._counted_at = time.monotonic()
                    keys = conn.execute(
                        "SELECT DISTINCT model, adapter, operation FROM model_calls WHERE id > ?", (self._max_id,)
                    ).fetchall()
                    new = []
                    for key in keys:
                        cur = conn.execute(
                            "SELECT id, started_at, success, latency_s, IFNULL(ttft_s, 'nan'), "
                            "IFNULL(tokens_per_s, 'nan'), IFNULL(quality, 'nan') FROM model_calls "
                            "WHERE model = ? AND adapter IS ? AND operation = ? AND id > ?",
                            (*key, self._max_id),
                        )
                        rows = np.fromiter(cur, dtype=_row_dtype())
                        if len(rows):
                            new.append((tuple(key), rows))
                finally:
                    conn.execute("COMMIT")
                return new

            new = self.store.run_checked("model calls for statistics", read)
            top = self._max_id
            for key, rows in new:
                code = self._code(key)
                old = self._groups.get(code)
                cols = {name: rows[name] for name in ("t", "ok", "lat", "ttft", "tps", "q")}
                if old is not None:
                    cols = {name: np.concatenate([old[name], cols[name]]) for name in cols}
                if len(cols["t"]) > 1 and np.any(np.diff(cols["t"]) < 0):
                    order = np.argsort(cols["t"], kind="stable")  # nearly sorted already: cheap
                    cols = {name: v[order] for name, v in cols.items()}
                self._groups[code] = cols
                top = max(top, int(rows["id"].max()))
                self._n += len(rows)
            self._max_id = top
            return list(self._keys), dict(self._groups)

    def invalidate(self) -> None:
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        self._keys: list[tuple[str, str | None, str]] = []
        self._key_code: dict[tuple, int] = {}
        self._groups: dict[int, dict] = {}
        self._max_id = 0
        self._n = 0
        self._counted_at = time.monotonic()

    def _code(self, key: tuple) -> int:
        if key not in self._key_code:
            self._key_code[key] = len(self._keys)
            self._keys.append(key)
        return self._key_code[key]


@functools.lru_cache(maxsize=1)
def _row_dtype():
    # numpy is imported on first use, not when the tutor package is imported (layering rule).
    import numpy as np

    return np.dtype([("id", "i8"), ("t", "f8"), ("ok", "i1"), ("lat", "f8"), ("ttft", "f8"), ("tps", "f8"),
                     ("q", "f8")])


# ---------------------------------------------------------------- statistics


class Statistics:
    """The statistics API over one MetricsStore (one instance per app; thread-safe)."""

    def __init__(self, store: MetricsStore, min_calls_to_recommend: int = 20) -> None:
        self.store = store
        self.table = CallTable(store)
        self.min_calls_to_recommend = min_calls_to_recommend

    def models(self) -> list[str]:
        keys, _ = self.table.snapshot()
        return sorted({k[0] for k in keys})

    def statistics(self, since: float | None = None, until: float | None = None, *, model: str | None = None,
                   by_operation: bool = True, skip_operations: frozenset[str] = frozenset()) -> list[ModelStats]:
        """One row per (model, adapter, operation), or per (model, adapter) with by_operation=False;
        calls of skip_operations left out."""
        keys, groups = self.table.snapshot()
        merged: dict[tuple, list[dict]] = {}
        for code, (m, a, op) in enumerate(keys):
            if (model is not None and m != model) or code not in groups or op in skip_operations:
                continue
            part = _window(groups[code], since, until)
            if len(part["t"]):
                merged.setdefault((m, a, op if by_operation else None), []).append(part)
        votes = self._votes(since, until, by_operation)
        out = [_summarise(m, a, op, _join(parts), votes.get((m, a, op), (0, 0)))
               for (m, a, op), parts in merged.items()]
        out.sort(key=lambda s: (s.model, s.adapter is not None, s.adapter or "", s.operation or ""))
        return out

    def compare(self, since: float | None = None, until: float | None = None) -> Comparison:
        rows = self.statistics(since, until, by_operation=False, skip_operations=MEDIA_OPERATIONS)

        def best(key, reverse=False):
            cands = [(key(r), r.label) for r in rows if key(r) is not None]
            if not cands:
                return None
            return (max if reverse else min)(cands)[1]

        rec = _recommend(rows, "balanced", 1)
        ranking = Ranking(
            fastest=best(lambda r: r.latency_p50_s),
            most_reliable=best(lambda r: r.success_rate, reverse=True),
            best_quality=best(lambda r: r.quality, reverse=True),
            best_overall=rec.model,
        )
        return Comparison(tuple(rows), ranking)

    def recommend(self, priority: str = "balanced", since: float | None = None, until: float | None = None,
                  *, min_calls: int | None = None) -> Recommendation:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        need = self.min_calls_to_recommend if min_calls is None else min_calls
        return _recommend(self.statistics(since, until, by_operation=False, skip_operations=MEDIA_OPERATIONS),
                          priority, need)

    def trend(self, metric: str, bucket_s: float, since: float | None = None, until: float | None = None, *,
              model: str | None = None, adapter: str | None = ANY, operation: str | None = None) -> list[TrendPoint]:
        """``metric`` per time bucket of ``bucket_s`` seconds (empty buckets have value None).
        ``adapter``: ANY (default) = base model and every adapter; None = the base model only."""
        import numpy as np

        if metric not in TREND_METRICS:
            raise ValueError(f"metric must be one of {', '.join(TREND_METRICS)}, not {metric!r}")
        if not bucket_s or bucket_s <= 0:
            raise ValueError("bucket_s must be > 0")
        keys, groups = self.table.snapshot()
        parts = [_window(groups[code], since, until) for code, (m, a, op) in enumerate(keys)
                 if code in groups and (model is None or m == model) and (adapter == ANY or a == adapter)
                 and (operation is None or op == operation)]
        d = _join([p for p in parts if len(p["t"])])
        t = d["t"]
        if len(t) == 0:
            return []
        start = math.floor((since if since is not None else t.min()) / bucket_s) * bucket_s
        end = until if until is not None else t.max() + 1e-9
        nb = max(1, int(math.ceil((end - start) / bucket_s)))
        if nb > 10_000:
            raise ValueError(f"{nb} buckets is too many; use a larger bucket_s (at most 10000 buckets).")
        idx = np.clip(((t - start) // bucket_s).astype(np.int64), 0, nb - 1)
        order = np.argsort(idx, kind="stable")
        bounds = np.searchsorted(idx[order], np.arange(nb + 1))
        ok = d["ok"] == 1
        column = {"latency_p50": "lat", "latency_p95": "lat", "ttft_p50": "ttft", "tokens_per_s": "tps",
                  "quality": "q"}.get(metric)
        out = []
        for b in range(nb):
            rows = order[bounds[b]:bounds[b + 1]]
            value: float | None = None
            if len(rows) and metric == "calls":
                value = float(len(rows))
            elif len(rows) and metric == "success_rate":
                value = float(ok[rows].mean())
            elif len(rows):
                vals = d[column][rows if metric == "quality" else rows[ok[rows]]]
                vals = vals[~np.isnan(vals)]
                if len(vals):
                    q = {"latency_p50": 50, "ttft_p50": 50, "latency_p95": 95}.get(metric)
                    value = float(np.percentile(vals, q)) if q else float(vals.mean())
            out.append(TrendPoint(start + b * bucket_s, value, int(len(rows))))
        return out

    def _votes(self, since, until, by_operation: bool) -> dict[tuple, tuple[int, int]]:
        where, params = [], []
        if since is not None:
            where.append("c.started_at >= ?")
            params.append(since)
        if until is not None:
            where.append("c.started_at < ?")
            params.append(until)
        op = "c.operation" if by_operation else "NULL"
        # CROSS JOIN keeps feedback (small) as the outer loop; SQLite would otherwise scan model_calls.
        sql = (f"SELECT c.model, c.adapter, {op}, SUM(f.value = 1), SUM(f.value = -1) FROM feedback f "
               f"CROSS JOIN model_calls c ON c.id = f.call_id {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"GROUP BY 1, 2, 3")

        def read(conn: sqlite3.Connection):
            return {(r[0], r[1], r[2]): (int(r[3] or 0), int(r[4] or 0)) for r in conn.execute(sql, params)}

        return self.store.run_checked("thumbs votes", read)


def _recommend(rows: list[ModelStats], priority: str, need: int) -> Recommendation:
    eligible = [r for r in rows if r.calls >= need and r.latency_p50_s]
    ineligible = tuple(r.label for r in rows if r not in eligible)
    if not eligible:
        why = (f"No model has the {need} calls needed to be recommended yet"
               + (f" (fewer so far: {', '.join(ineligible)})." if ineligible else "."))
        return Recommendation(priority, None, None, why, (), ineligible)
    fastest = min(r.latency_p50_s for r in eligible)
    cands = []
    for r in eligible:
        speed = fastest / r.latency_p50_s
        quality = r.quality if r.quality is not None else 0.5
        balanced = (BALANCED_WEIGHTS["speed"] * speed + BALANCED_WEIGHTS["quality"] * quality
                    + BALANCED_WEIGHTS["reliability"] * r.success_rate)
        main = {"speed": speed, "quality": quality, "reliable": r.success_rate, "balanced": balanced}[priority]
        cands.append((main, balanced, Candidate(r.label, main, speed, quality, r.success_rate, r.calls)))
    cands.sort(key=lambda c: (c[0], c[1]), reverse=True)
    top = cands[0][2]
    parts = f"speed {top.speed:.2f}, quality {top.quality:.2f}, reliability {top.reliability:.2f}"
    reason = (f"{top.label} scores {top.score:.2f} for priority '{priority}' ({parts}; "
              f"{top.calls} calls) among {len(cands)} eligible model(s).")
    return Recommendation(priority, top.label, top.score, reason, tuple(c[2] for c in cands), ineligible)


def _window(cols: dict, since: float | None, until: float | None) -> dict:
    """The rows of one group (sorted by t) started in [since, until): two binary searches."""
    import numpy as np

    t = cols["t"]
    lo = 0 if since is None else int(np.searchsorted(t, since, "left"))
    hi = len(t) if until is None else int(np.searchsorted(t, until, "left"))
    return {name: v[lo:hi] for name, v in cols.items()}


def _join(parts: list[dict]) -> dict:
    import numpy as np

    if len(parts) == 1:
        return parts[0]
    if not parts:
        return {name: np.zeros(0) for name in ("t", "ok", "lat", "ttft", "tps", "q")}
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _pct(values, q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else None


def _summarise(m, a, op, d: dict, votes: tuple[int, int]) -> ModelStats:
    import numpy as np

    n = len(d["t"])
    ok = d["ok"] == 1
    k = int(ok.sum())
    lat = d["lat"][ok]
    ttft = d["ttft"][ok]
    ttft = ttft[~np.isnan(ttft)]
    tps = d["tps"][ok]
    tps = tps[~np.isnan(tps)]
    q = d["q"][~np.isnan(d["q"])]
    up, down = votes
    if len(q):
        quality, source = float(q.mean()), "scores"
    elif up + down:
        quality, source = up / (up + down), "thumbs"
    else:
        quality, source = None, "none"
    p50, p95, p99 = (np.percentile(lat, [50, 95, 99]) if k else (None, None, None))
    return ModelStats(
        model=m, adapter=a, operation=op, calls=n, successes=k, success_rate=k / n,
        latency_mean_s=float(lat.mean()) if k else None,
        latency_p50_s=None if p50 is None else float(p50),
        latency_p95_s=None if p95 is None else float(p95),
        latency_p99_s=None if p99 is None else float(p99),
        ttft_p50_s=_pct(ttft, 50), ttft_p95_s=_pct(ttft, 95),
        tokens_per_s=float(tps.mean()) if len(tps) else None,
        quality=quality, quality_source=source, thumbs_up=up, thumbs_down=down,
    )

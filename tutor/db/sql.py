"""Small SQL text helpers shared by the stores (metrics, export, learner analytics, learner records)."""
from __future__ import annotations


def time_window(column: str, since: float | None, until: float | None) -> tuple[list[str], list[object]]:
    """Conditions and parameters for ``since <= column < until``; an open end adds nothing."""
    conditions: list[str] = []
    params: list[object] = []
    if since is not None:
        conditions.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        conditions.append(f"{column} < ?")
        params.append(until)
    return conditions, params


def where_clause(conditions: list[str]) -> str:
    """'WHERE a AND b', or '' for no conditions."""
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""

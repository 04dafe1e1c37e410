"""Export of every metrics table for a time window, as one JSON document or one CSV per table
(zipped). Reads in one snapshot so the tables agree with each other."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
import zipfile
from dataclasses import dataclass

from tutor.metrics.store import MetricsStore
from tutor.db.sql import time_window, where_clause

# table -> time column used for the window
EXPORT_TABLES = {
    "model_calls": "started_at",
    "feedback": "voted_at",
    "retrieval_events": "started_at",
    "knowledge_gaps": "created_at",
    "resource_samples": "sampled_at",
    "training_steps": "recorded_at",
    "interactions": "at",
}


@dataclass(frozen=True)
class Export:
    since: float | None
    until: float | None
    exported_at: float
    tables: dict[str, tuple[tuple[str, ...], list[tuple]]]  # name -> (columns, rows)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, (_, rows) in self.tables.items()}

    def to_json(self) -> str:
        return json.dumps({
            "since": self.since, "until": self.until, "exported_at": self.exported_at,
            "tables": {name: [dict(zip(cols, r)) for r in rows] for name, (cols, rows) in self.tables.items()},
        }, separators=(",", ":"))

    def to_csv(self, table: str) -> str:
        cols, rows = self.tables[table]
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        return buf.getvalue()

    def to_csv_zip(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name in self.tables:
                z.writestr(f"{name}.csv", self.to_csv(name))
        return buf.getvalue()


def export(store: MetricsStore, since: float | None = None, until: float | None = None,
           tables: tuple[str, ...] | None = None) -> Export:
    names = tuple(EXPORT_TABLES) if tables is None else tables
    unknown = [t for t in names if t not in EXPORT_TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(EXPORT_TABLES)}")

    def read(conn: sqlite3.Connection) -> dict:
        out = {}
        conn.execute("BEGIN")
        try:
            for name in names:
                col = EXPORT_TABLES[name]
                where, params = time_window(col, since, until)
                cur = conn.execute(f"SELECT * FROM {name} {where_clause(where)} ORDER BY {col}", params)
                out[name] = (tuple(d[0] for d in cur.description), cur.fetchall())
        finally:
            conn.execute("COMMIT")
        return out

    return Export(since, until, time.time(), store.run_checked("the export", read))

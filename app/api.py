"""The admin REST API (FastAPI) served next to the Gradio UI on the same server.

Every route needs an admin token (`Authorization: Bearer <token>`, issued with
`python -m tutor user token NAME`): the numbers here are admin data, and learners must not reach
them through a share link either. Requests are validated by pydantic (a malformed payload gets a
422 naming the field), an unknown model gets a 404, and the destructive routes refuse to run
without `confirm=true` (400).
"""
from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tutor.metrics import MetricsError, ModelCall
from tutor.metrics.stats import ANY, TREND_METRICS
from tutor.metrics.export import EXPORT_TABLES
from tutor.services import Services

API_PREFIX = "/api/v1/metrics"


class CallIn(BaseModel):
    """One model call recorded by an external client (same fields the app records itself)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(min_length=1, max_length=200)
    adapter: str | None = Field(default=None, max_length=200)
    operation: str = Field(min_length=1, max_length=64)
    user: str = Field(default="api", max_length=200)
    started_at: float | None = Field(default=None, description="unix seconds; default now")
    latency_s: float = Field(ge=0, le=86400)
    ttft_s: float | None = Field(default=None, ge=0, le=86400)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    tokens_per_s: float | None = Field(default=None, ge=0)
    success: bool = True
    error_type: str | None = Field(default=None, max_length=200)
    quality: float | None = Field(default=None, ge=0, le=1)


def _window(since: float | None, until: float | None, hours: float | None) -> tuple[float | None, float | None]:
    if hours is not None:
        if since is not None:
            raise HTTPException(400, "Give either hours or since, not both.")
        since = time.time() - hours * 3600
    if since is not None and until is not None and until <= since:
        raise HTTPException(400, "until must be later than since.")
    return since, until


Since = Annotated[float | None, Query(description="window start, unix seconds")]
Until = Annotated[float | None, Query(description="window end (exclusive), unix seconds")]
Hours = Annotated[float | None, Query(gt=0, le=24 * 366, description="window = the last N hours")]


def build_router(services: Services) -> APIRouter:
    monitor = services.monitor

    def require_admin(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        user = services.users.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(401, "An admin token is required: 'Authorization: Bearer <token>' "
                                     "(python -m tutor user token NAME).", headers={"WWW-Authenticate": "Bearer"})
        if not user.is_admin:
            raise HTTPException(403, "This token's user is not an admin.")
        return user.name

    router = APIRouter(prefix=API_PREFIX, tags=["metrics"], dependencies=[Depends(require_admin)])

    def known_model(model: str) -> None:
        if model not in monitor.stats.models():
            raise HTTPException(404, f"No calls recorded for model {model!r}.")

    @router.post("/record", status_code=201, summary="Record one model call")
    def record(call: CallIn) -> dict:
        row = ModelCall(
            model=call.model, adapter=call.adapter, operation=call.operation, user=call.user,
            started_at=time.time() if call.started_at is None else call.started_at, ttft_s=call.ttft_s,
            latency_s=call.latency_s, prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
            tokens_per_s=call.tokens_per_s, success=call.success, error_type=call.error_type, quality=call.quality,
        )
        call_id = services.meter.record(row)  # a call an outside program made, recorded like ours
        if call_id is None:
            raise HTTPException(503, "The metrics database could not store the call; see the admin tab.")
        return {"id": call_id}

    _add_statistics_routes(router, monitor, known_model)

    @router.get("/export", summary="Everything in a window, as JSON or CSV")
    def export(format: Literal["json", "csv"] = "json", table: Literal[tuple(EXPORT_TABLES)] | None = None,
               since: Since = None, until: Until = None, hours: Hours = None) -> Response:
        since, until = _window(since, until, hours)
        bundle = monitor.export(since, until, (table,) if table else None)
        if format == "json":
            return Response(bundle.to_json(), media_type="application/json")
        if table:
            return Response(bundle.to_csv(table), media_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})
        return Response(bundle.to_csv_zip(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="smartlearn-metrics.zip"'})

    @router.delete("/models/{model}", summary="Clear one model's calls (confirm=true required)")
    def clear(model: str, confirm: bool = False, adapter: str | None = None) -> dict:
        if not confirm:
            raise HTTPException(400, "Clearing deletes data for good: repeat the request with confirm=true.")
        known_model(model)
        return {"deleted": monitor.clear_model(model, adapter).rows}

    @router.post("/clear-old", summary="Delete data older than N days (confirm=true required)")
    def clear_old(days: Annotated[float, Query(gt=0, le=3650)], confirm: bool = False) -> dict:
        if not confirm:
            raise HTTPException(400, "Clearing deletes data for good: repeat the request with confirm=true.")
        return {"deleted": monitor.clear_older_than(days).rows}

    @router.get("/health", summary="Health score and alerts")
    def health() -> dict:
        h = monitor.health()
        return {"score": h.score, "label": h.label, "alerts": [vars(a) for a in h.alerts]}

    return router


def _add_statistics_routes(router: APIRouter, monitor, known_model) -> None:
    """Read-only views of the recorded calls: statistics, comparison, recommendation, trends."""

    @router.get("/statistics", summary="Statistics of every model")
    def statistics(since: Since = None, until: Until = None, hours: Hours = None, by_operation: bool = True) -> list:
        since, until = _window(since, until, hours)
        return [vars(s) for s in monitor.stats.statistics(since, until, by_operation=by_operation)]

    @router.get("/statistics/{model}", summary="Statistics of one model")
    def statistics_one(model: str, since: Since = None, until: Until = None, hours: Hours = None,
                       by_operation: bool = True) -> list:
        known_model(model)
        since, until = _window(since, until, hours)
        return [vars(s) for s in monitor.stats.statistics(since, until, model=model, by_operation=by_operation)]

    @router.get("/compare", summary="Models side by side, with rankings")
    def compare(since: Since = None, until: Until = None, hours: Hours = None) -> dict:
        since, until = _window(since, until, hours)
        c = monitor.stats.compare(since, until)
        return {"models": [dict(vars(s), label=s.label) for s in c.models], "ranking": vars(c.ranking)}

    @router.get("/recommend", summary="Recommend a model for a priority")
    def recommend(priority: Literal["speed", "quality", "reliable", "balanced"] = "balanced",
                  min_calls: Annotated[int | None, Query(ge=1)] = None,
                  since: Since = None, until: Until = None, hours: Hours = None) -> dict:
        since, until = _window(since, until, hours)
        r = monitor.stats.recommend(priority, since, until, min_calls=min_calls)
        return {"priority": r.priority, "model": r.model, "score": r.score, "reason": r.reason,
                "candidates": [vars(c) for c in r.candidates], "ineligible": list(r.ineligible)}

    @router.get("/trend", summary="One metric in time buckets")
    def trend(metric: Literal[TREND_METRICS], bucket_s: Annotated[float, Query(gt=0)] = 3600.0,
              model: str | None = None,
              adapter: Annotated[str | None, Query(description="omit = all; empty = base model only")] = None,
              operation: str | None = None, since: Since = None, until: Until = None, hours: Hours = None) -> list:
        if model is not None:
            known_model(model)
        since, until = _window(since, until, hours)
        try:
            points = monitor.stats.trend(metric, bucket_s, since, until, model=model,
                                         adapter=ANY if adapter is None else (adapter or None), operation=operation)
        except ValueError as e:
            raise HTTPException(400, str(e)) from e
        return [vars(p) for p in points]


def build_api(services: Services) -> FastAPI:
    """The FastAPI app the Gradio UI is mounted on (app/server.py), with the REST routes and
    the Prometheus endpoint."""
    api = FastAPI(title="SmartLearn admin API", version="1",
                  description="Model statistics, comparison, recommendation, trends, export and clears. "
                              "Every route needs an admin token.")
    router = build_router(services)
    api.include_router(router)

    @api.get("/metrics", include_in_schema=True, tags=["metrics"], summary="Prometheus exposition",
             dependencies=router.dependencies)
    def prometheus() -> Response:
        from tutor.metrics.prometheus import render

        body, ctype = render(services.monitor)
        return Response(body, media_type=ctype)

    @api.exception_handler(MetricsError)
    def _metrics_error(_request: Request, exc: MetricsError) -> JSONResponse:
        # A locked or damaged database: say so instead of a 500 with a traceback.
        return JSONResponse({"detail": str(exc)}, status_code=503)

    return api

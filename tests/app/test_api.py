"""The admin REST API through FastAPI's test client (the same app object the server runs)."""
import time

import pytest
from fastapi.testclient import TestClient

from app.api import API_PREFIX, build_api
from tests.app.admin_fixtures import admin_setup
from tutor.metrics import ModelCall


@pytest.fixture
def setup(tmp_path):
    return admin_setup(tmp_path)


@pytest.fixture
def client(setup):
    return TestClient(build_api(setup.services))


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def seed(tutor, n=30):
    now = time.time()
    for i in range(n):
        for model, lat in (("fast", 0.5), ("slow", 2.0)):
            tutor.metrics.record_call(ModelCall(model, None, "ask", "u", now - 60 + i, 0.1, lat + i / 100, 10, 20,
                                                25.0, True, quality=0.8))


def test_every_route_needs_an_admin_token(client, setup):
    routes = [("get", "/statistics"), ("get", "/compare"), ("get", "/recommend"), ("get", "/trend?metric=calls"),
              ("get", "/export"), ("post", "/clear-old?days=1&confirm=true"), ("delete", "/models/x?confirm=true"),
              ("post", "/record"), ("get", "/health")]
    for method, path in routes:
        assert getattr(client, method)(API_PREFIX + path).status_code == 401, path
        r = getattr(client, method)(API_PREFIX + path, headers=auth(setup.learner_token))
        assert r.status_code == 403, path
    assert client.get("/metrics").status_code == 401
    assert client.get(API_PREFIX + "/statistics", headers=auth("not-a-token")).status_code == 401


def test_record_then_statistics_compare_recommend_trend(client, setup):
    h = auth(setup.token)
    r = client.post(API_PREFIX + "/record", json={"model": "ext", "operation": "ask", "latency_s": 1.5,
                                                  "quality": 0.9}, headers=h)
    assert r.status_code == 201 and r.json()["id"] > 0
    seed(setup.tutor)
    stats = client.get(API_PREFIX + "/statistics?hours=1", headers=h).json()
    assert {s["model"] for s in stats} == {"ext", "fast", "slow"}
    one = client.get(API_PREFIX + "/statistics/fast", headers=h).json()
    assert one[0]["calls"] == 30 and one[0]["latency_p50_s"] == pytest.approx(0.5 + 0.145)
    cmp = client.get(API_PREFIX + "/compare", headers=h).json()
    assert cmp["ranking"]["fastest"] == "fast"
    rec = client.get(API_PREFIX + "/recommend?priority=speed&min_calls=10", headers=h).json()
    assert rec["model"] == "fast" and rec["ineligible"] == ["ext"]
    trend = client.get(API_PREFIX + "/trend?metric=calls&bucket_s=86400&model=fast", headers=h).json()
    assert sum(p["n"] for p in trend) == 30


def test_bad_requests_get_4xx_with_a_message(client, setup):
    h = auth(setup.token)
    bad = client.post(API_PREFIX + "/record", json={"model": "m", "operation": "ask", "latency_s": -1}, headers=h)
    assert bad.status_code == 422 and "latency_s" in bad.text
    assert client.post(API_PREFIX + "/record", json={"model": "m"}, headers=h).status_code == 422
    assert client.post(API_PREFIX + "/record", content=b"{not json", headers=h).status_code == 422
    extra = client.post(API_PREFIX + "/record", json={"model": "m", "operation": "a", "latency_s": 1, "x": 1},
                        headers=h)
    assert extra.status_code == 422
    assert client.get(API_PREFIX + "/recommend?priority=cheap", headers=h).status_code == 422
    assert client.get(API_PREFIX + "/trend?metric=bogus", headers=h).status_code == 422
    assert client.get(API_PREFIX + "/statistics?hours=1&since=5", headers=h).status_code == 400
    missing = client.get(API_PREFIX + "/statistics/nope", headers=h)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert client.get(API_PREFIX + "/trend?metric=calls&model=nope", headers=h).status_code == 404


def test_clears_need_confirmation(client, setup):
    h = auth(setup.token)
    seed(setup.tutor, 3)
    r = client.delete(API_PREFIX + "/models/fast", headers=h)
    assert r.status_code == 400 and "confirm=true" in r.json()["detail"]
    assert client.delete(API_PREFIX + "/models/nope?confirm=true", headers=h).status_code == 404
    assert client.delete(API_PREFIX + "/models/fast?confirm=true", headers=h).json()["deleted"]["model_calls"] == 3
    assert [s["model"] for s in client.get(API_PREFIX + "/statistics", headers=h).json()] == ["slow"]
    assert client.post(API_PREFIX + "/clear-old?days=30", headers=h).status_code == 400
    assert client.post(API_PREFIX + "/clear-old?days=0&confirm=true", headers=h).status_code == 422
    assert client.post(API_PREFIX + "/clear-old?days=30&confirm=true", headers=h).status_code == 200


def test_export_prometheus_and_openapi(client, setup):
    h = auth(setup.token)
    seed(setup.tutor, 2)
    data = client.get(API_PREFIX + "/export", headers=h).json()
    assert len(data["tables"]["model_calls"]) == 4
    csv = client.get(API_PREFIX + "/export?format=csv&table=model_calls", headers=h)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == 5
    z = client.get(API_PREFIX + "/export?format=csv", headers=h)
    assert z.headers["content-type"] == "application/zip"
    prom = client.get("/metrics", headers=h)
    assert prom.status_code == 200 and 'smartlearn_model_calls{adapter="",model="fast",operation="ask"} 2.0' in prom.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {API_PREFIX + p for p in ("/record", "/statistics", "/compare", "/recommend", "/trend", "/export",
                                     "/clear-old")} <= set(paths)


def test_a_broken_database_is_a_503_with_a_message(client, setup):
    h = auth(setup.token)
    db = setup.tutor.metrics.db_path
    db.unlink()
    db.mkdir()
    r = client.get(API_PREFIX + "/statistics", headers=h)
    assert r.status_code == 503 and "metrics database" in r.json()["detail"]

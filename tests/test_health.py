"""Health, readiness and metrics endpoints."""
from __future__ import annotations


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_when_store_and_manifest_are_there(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json()["status"] == "ready"


def test_readyz_is_503_when_the_store_is_unreachable(make_app, tmp_path):
    app = make_app()
    runtime = app.extensions["connector"]
    from connector.store import Store

    original, runtime.store = runtime.store, Store(f"sqlite:///{tmp_path}/missing-dir/nope.db")
    try:
        response = app.test_client().get("/readyz")
    finally:
        runtime.store.dispose()
        runtime.store = original
    assert response.status_code == 503
    assert response.get_json()["problems"][0].startswith("store unreachable")


def test_metrics_is_prometheus_text_with_job_gauges(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE connector_jobs gauge" in text
    assert "connector_oldest_waiting_job_age_seconds 0.0" in text

"""The baseline for ``bench/intake.py``: a bare Flask app with the connector's webhook route.

``POST /webhooks/zendesk`` reads the body and answers 202 with a small JSON object, as the
connector does, but verifies, parses and stores nothing. ``GET /healthz`` lets the bench
wait for the server. Served by gunicorn exactly like the connector
(``gunicorn … 'bench.bare_app:app'``), so the difference between the two is the
connector's own work per webhook.
"""
from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask("bare")


@app.post("/webhooks/zendesk")
def zendesk_webhook():
    request.get_data(cache=False)
    response = jsonify({"status": "accepted"})
    response.status_code = 202
    return response


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})

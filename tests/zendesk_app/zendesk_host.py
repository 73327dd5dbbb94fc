"""The Zendesk side of the sidebar's browser tests: it serves the app's real assets and
plays Zendesk's request proxy.

- ``GET /app/iframe.html`` is the app's own ``iframe.html`` with the ZAF SDK's script tag
  replaced by ``zaf_state.js`` (the ticket the test set up) and ``zaf_stub.js``; every
  other file under ``/app/`` is the app's asset as shipped.
- ``POST /proxy`` is what ``client.request`` reaches: like Zendesk's proxy it fills the
  secure settings' placeholders (``{{setting.connector_token}}``) **on the server** and
  only for ``secure: true`` requests, sends the request on, and hands the answer back as
  ``{status, statusText, body}``. An upstream that cannot be reached answers 502.
  ``delay`` holds every proxied request back that many seconds (a connector that hangs).

The page never sees a secure setting: ``zaf_state.js`` carries only the non-secure ones.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import requests
from flask import Flask, Response, abort, jsonify, request, send_from_directory

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "manifest" / "zendesk-app" / "assets"
STUB = Path(__file__).resolve().parent / "zaf_stub.js"
SDK_TAG = '<script src="https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"></script>'
PLACEHOLDER = re.compile(r"\{\{setting\.([A-Za-z0-9_]+)\}\}")


class ZendeskHost:
    def __init__(self, secure_settings: dict[str, str]):
        self.secure_settings = dict(secure_settings)
        self.state: dict[str, Any] = {}
        self.proxied: list[dict[str, Any]] = []
        self.delay = 0.0
        self.app = self._build()

    def _build(self) -> Flask:
        app = Flask("zendesk-host")

        @app.get("/app/iframe.html")
        def iframe():
            page = (ASSETS / "iframe.html").read_text(encoding="utf-8")
            if page.count(SDK_TAG) != 1:
                abort(500, "iframe.html must load the ZAF SDK exactly once with " + SDK_TAG)
            page = page.replace(SDK_TAG, '<script src="zaf_state.js"></script><script src="zaf_stub.js"></script>')
            return Response(page, mimetype="text/html")

        @app.get("/app/zaf_state.js")
        def state():
            return Response(f"window.ZAF_STUB_STATE = {json.dumps(self.state)};", mimetype="text/javascript")

        @app.get("/app/zaf_stub.js")
        def stub():
            return send_from_directory(STUB.parent, STUB.name, mimetype="text/javascript")

        @app.get("/app/<path:name>")
        def asset(name: str):
            return send_from_directory(ASSETS, name)

        @app.post("/proxy")
        def proxy():
            return jsonify(self._forward(request.get_json()))

        return app

    def _forward(self, envelope: dict[str, Any]) -> dict[str, Any]:
        headers = dict(envelope.get("headers") or {})
        if envelope.get("secure"):
            headers = {name: PLACEHOLDER.sub(lambda m: self.secure_settings.get(m.group(1), ""), value)
                       for name, value in headers.items()}
        if envelope.get("contentType"):
            headers["Content-Type"] = envelope["contentType"]
        self.proxied.append({"method": envelope["type"], "url": envelope["url"],
                             "authorization": headers.get("Authorization"), "secure": bool(envelope.get("secure")),
                             "body": json.loads(envelope["data"]) if envelope.get("data") else None})
        if self.delay:
            time.sleep(self.delay)
        try:
            answer = requests.request(envelope["type"], envelope["url"], headers=headers,
                                      data=envelope.get("data"), timeout=10)
        except requests.RequestException as error:
            return {"status": 502, "statusText": "Bad Gateway", "body": json.dumps(
                {"error": f"the proxy could not reach {envelope['url']} ({error.__class__.__name__})"})}
        return {"status": answer.status_code, "statusText": answer.reason, "body": answer.text}

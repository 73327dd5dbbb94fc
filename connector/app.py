"""The Flask application factory: the only way to build the web app.

``create_app(config=None)``: ``config`` overrides environment variables by name
(``{"DATABASE_URL": ...}``) and may carry ready-made parts for tests and the demo
(``REGISTRY``, ``MANIFEST``, ``RETRY_POLICY``). Start-up fails with every
configuration and manifest problem listed when anything is wrong.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

from connector.config import load_settings
from connector.runtime import build_runtime
from connector.web.webhooks import MAX_BODY


def create_app(config: Mapping[str, Any] | None = None, *, role: str = "web") -> Flask:
    config = dict(config or {})
    environ = {**os.environ, **{k: v for k, v in config.items() if isinstance(v, str)}}
    settings = load_settings(environ, role=role)
    runtime = build_runtime(
        settings,
        registry=config.get("REGISTRY"),
        manifest=config.get("MANIFEST"),
        policy=config.get("RETRY_POLICY"),
        migrate=bool(config.get("MIGRATE", False)),
        role=role,
    )
    from connector.logs import configure_logging
    from connector.metrics import COUNTERS

    if not config.get("TESTING"):
        configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
        COUNTERS.start(runtime.store)

    app = Flask("connector")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["TESTING"] = bool(config.get("TESTING"))
    app.extensions["connector"] = runtime

    from connector.web import health, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(health.bp)
    from connector.web import admin, api

    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    return app

"""The operator console (``/console``) and the monitoring endpoints (``/metrics``, ``/healthz``).

``register(app, settings, services)`` adds both to the HTTP app ``create_app`` builds: the
console blueprint (Jinja templates and plain JavaScript shipped in this package, no build
step), Prometheus's exposition of every process's metrics, a health summary of the roles,
and the count of HTTP requests by dialect (blueprint) and status code.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from ivr import metrics
from ivr.config import Settings
from ivr.console import auth, views

__all__ = ["register"]


def register(app: Flask, settings: Settings, services: Any) -> None:
    auth.configure(app, settings.ivr.data_dir, settings.http.public_base_url)
    app.register_blueprint(views.make_blueprint(settings, services))
    metrics.role_up("http")
    store_gauges = metrics.store_collector(services.sms.store.depths)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        body, content_type = metrics.render(store_gauges)
        return Response(body, content_type=content_type)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """200 when this HTTP worker answers and the store can be read; the roles some live
        process reported (http, sms, voice), for a load balancer or a person."""
        try:
            services.sms.store.depths()
            store = "ok"
        except Exception as exc:  # the answer is the health report itself
            store = f"error: {exc.__class__.__name__}: {exc}"
        roles = sorted(set(metrics.roles_up()) | metrics.local_roles())
        ok = store == "ok"
        return jsonify(status="ok" if ok else "degraded", roles=roles, store=store), \
            (200 if ok else 503)

    @app.after_request
    def _count(response: Response) -> Response:
        metrics.http_request(request.blueprint or "-", response.status_code)
        return response

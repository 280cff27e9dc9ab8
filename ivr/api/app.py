"""The Flask application factory and its production server (waitress).

``create_app(settings, services)`` takes objects, not paths; every dialect is one blueprint
module with ``make_blueprint(services)`` and ``OPENAPI_PATHS``. Each request gets an id that
appears in every log line about it and in the ``X-Request-Id`` header; an unexpected error is
logged with its traceback and answered with a plain 500 that leaks nothing.
"""

from __future__ import annotations

import importlib
import logging
import random
import re
import threading
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, has_request_context, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from waitress.server import create_server

from ivr.api.client import TRUSTED_PROXIES_KEY, current_client, parse_networks
from ivr.api.openapi import build_openapi
from ivr.api.services import ApiServices
from ivr.logsafe import escape

if TYPE_CHECKING:
    from ivr.config import Settings  # ivr.config loads every side's settings, voice's too

__all__ = ["DIALECTS", "access_log", "create_app", "serve_http", "HttpServer"]

log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Blueprint modules, in registration order (ozeki last: it also serves "/").
DIALECTS = ("acrobits", "jsonapi", "enswitch", "restcomm", "provider_dlr", "ozeki")


def access_log() -> list[str] | None:
    """What the view wants in this request's access line (appended in order); None outside
    a request (the caller then logs on its own: ``SmsService.submit(log_to=None)``)."""
    if not has_request_context():
        return None
    notes: list[str] | None = g.get("access_log")
    if notes is None:
        notes = g.access_log = []
    return notes


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"ivr.api.{name}") for name in DIALECTS]


def create_app(settings: Settings, services: ApiServices) -> Flask:
    app = Flask("ivr")
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.config[TRUSTED_PROXIES_KEY] = parse_networks(settings.http.trusted_proxies)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    modules = _modules()
    for module in modules:
        app.register_blueprint(module.make_blueprint(services))
    openapi = build_openapi(modules)
    from ivr.console import register as register_console

    register_console(app, settings, services)   # /console, /metrics, /healthz
    app.session_interface = _ConsoleSessions()

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return jsonify(openapi)

    @app.before_request
    def _start() -> None:
        # 16 hex digits from the process's Mersenne Twister (reseeded in each forked
        # worker): an id to find log lines by, not a secret, so no getrandom() syscall
        # (and GIL hand-off) per request as secrets.token_hex made.
        # A client's id is echoed and logged: only characters that cannot forge a line.
        given = request.headers.get("X-Request-Id", "")[:64]
        g.request_id = given if _REQUEST_ID.fullmatch(given) else \
            f"{random.getrandbits(64):016x}"
        g.started = time.perf_counter()

    level = logging.INFO if settings.http.access_log else logging.DEBUG

    @app.after_request
    def _finish(response: Response) -> Response:
        """The request's one log line (INFO unless ``[http] access_log = false``): who,
        what, the answer, how long, and what the view added (``access_log``: e.g. the
        accepted message's id, user and recipient). Not even built when it is not logged."""
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if log.isEnabledFor(level):
            notes: list[str] | None = g.get("access_log")
            log.log(level, "[req %s] %s %s %s -> %d (%.1f ms)%s", g.get("request_id", "?"),
                     current_client().address, request.method, escape(request.path, 200),
                     response.status_code,
                     (time.perf_counter() - g.get("started", time.perf_counter())) * 1000,
                     ": " + "; ".join(notes) if notes else "")
        return response

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> tuple[Response, int]:
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return jsonify(error=exc.name, message=exc.description), exc.code or 500
        log.exception("[req %s] unhandled error", g.get("request_id", "?"))
        return jsonify(error="internal error", request_id=g.get("request_id", "")), 500

    return app


class _ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened only under the cookie's own path (/console).

    Only the console signs in; the browser sends its cookie nowhere else. Every other
    request (each API call) gets Flask's null session instead of a signing serializer built
    and a cookie looked up per request, and nothing to save afterwards.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if not request.path.startswith(self.get_cookie_path(app)):
            return None                 # Flask then uses make_null_session
        return super().open_session(app, request)


class HttpServer:
    """waitress in a background thread; ``stop()`` closes it and waits."""

    def __init__(self, app: Flask, host: str, port: int, threads: int) -> None:
        self._server: Any = create_server(app, host=host, port=port, threads=threads,
                                           ident="ivr",
                                           # X-Forwarded-For is judged by ivr/api/client.py
                                           clear_untrusted_proxy_headers=False)
        self.port = int(self._server.effective_port)  # waitress gives it as a str
        self.host = host
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> HttpServer:
        self._thread.start()
        log.info("HTTP API listening on http://%s:%d", self.host, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection from inside waitress's own loop thread
        (closing them from here races its select() and raises EBADF there); with its socket
        map empty the loop returns, then the worker threads finish their requests."""
        server = self._server

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.handle_close()

        server.trigger.pull_trigger(close_all)
        self._thread.join(timeout)
        server.task_dispatcher.shutdown(timeout=timeout)


def serve_http(app: Flask, host: str, port: int, threads: int = 16) -> HttpServer:
    return HttpServer(app, host, port, threads).start()

"""A tiny web application that drives ozml_scripts/request.xml, the way Ozeki notifies apps.

Every request is a form POST with ``NotificationName`` (DtmfEntered, Request, GoTo,
RecordCompleted...) and the call's parameters; the answer is the next OzML document.
Run by hand:  python tools/ozml_webapp.py --port 8088
Tests import :func:`create_app` and serve it on 127.0.0.1 port 0.
"""

from __future__ import annotations

import argparse
from xml.sax.saxutils import escape

from flask import Flask, Response, request

__all__ = ["create_app"]


def _ozml(*commands: str) -> Response:
    body = '<?xml version="1.0"?>\n<Response>\n  ' + "\n  ".join(commands) + "\n</Response>\n"
    return Response(body, mimetype="application/xml")


def create_app() -> Flask:
    app = Flask("ozml_webapp")
    app.config["hits"] = []

    @app.post("/menu")
    def menu() -> Response:
        app.config["hits"].append(("menu", request.form.to_dict()))
        digits = request.form.get("Digits", "")
        return _ozml(f"<Speak>The web application received {escape(' '.join(digits))}.</Speak>",
                     "<Hangup/>")

    @app.route("/start", methods=["GET", "POST"])
    def start() -> Response:
        app.config["hits"].append(("start", request.values.to_dict()))
        caller = request.values.get("Caller", "unknown")
        return _ozml(f"<Speak>Hello {escape(caller)}, this text came from the web.</Speak>",
                     "<Hangup/>")

    @app.post("/loop")
    def loop() -> Response:
        app.config["hits"].append(("loop", request.form.to_dict()))
        return _ozml("<GoTo>/loop</GoTo>")

    @app.post("/broken")
    def broken() -> Response:
        return Response("<Response><Speak>unclosed</Response>", mimetype="application/xml")

    @app.post("/unknown-verb")
    def unknown_verb() -> Response:
        return _ozml("<Dance>now</Dance>")

    @app.post("/warn")
    def warn() -> Response:
        return _ozml('<Speak Colour="red">Attributes we do not know are ignored.</Speak>',
                     "<Hangup/>")

    @app.post("/error")
    def error() -> tuple[str, int]:
        return "internal error", 500

    @app.post("/empty")
    def empty() -> str:
        return ""

    @app.route("/redirect", methods=["GET", "POST"])
    def redirect_to() -> Response:
        """Sends the fetcher on to ``?to=`` (a hop the outbound URL policy must check)."""
        return Response("", status=302, headers={"Location": request.args.get("to", "/start")})

    @app.post("/fallback")
    def fallback() -> Response:
        app.config["hits"].append(("fallback", request.form.to_dict()))
        return _ozml("<Speak>This is the fallback document.</Speak>", "<Hangup/>")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    args = parser.parse_args()
    create_app().run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()

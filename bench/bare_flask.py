"""The ceiling of the mandated HTTP stack: waitress + Flask with one route and no work.

``/api`` answers every request with the fixed XML an accepted Ozeki SendSms gets, so
``bench/api_bench.py`` can measure, in the same run and with the same load, how many requests
per second waitress and Flask alone serve on this machine. Nothing else: no auth, no store,
no logging. Run: .venv/bin/python bench/bare_flask.py PORT [THREADS]
"""

from __future__ import annotations

import sys

from flask import Flask, Response
from waitress import serve

RESULT = ('<?xml version="1.0"?>\n<OzApi_CommandResult_SendSms '
          'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
          "  <Code>200</Code>\n  <Message>Command successfully executed</Message>\n"
          "  <SmsId>00000000-0000-4000-8000-000000000000</SmsId>\n"
          "</OzApi_CommandResult_SendSms>\n")


def make_app() -> Flask:
    app = Flask("bare")

    @app.route("/api", methods=["GET", "POST"])
    def api() -> Response:
        return Response(RESULT, content_type="application/xml; charset=utf-8")

    return app


if __name__ == "__main__":
    serve(make_app(), host="127.0.0.1", port=int(sys.argv[1]),
          threads=int(sys.argv[2]) if len(sys.argv) > 2 else 16, ident="bare")

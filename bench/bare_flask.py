"""The ceiling of ivr's HTTP stack: Flask with one route and no work, under the same server.

``/api`` answers every request with the fixed XML an accepted Ozeki SendSms gets, so
``bench/api_bench.py`` can measure, in the same run and with the same load, how many requests
per second the server and Flask alone serve on this machine. Nothing else: no auth, no
store, no logging. ``--server granian`` (the default) runs ``--workers`` processes on one
shared listener, each driven exactly as ivr drives its HTTP workers (ivr.roles.http:
``GranianWorker``, the same options, ``THREADS`` Python threads each); ``--server
waitress`` runs the one-process server ivr used before its process roles.
Run: .venv/bin/python bench/bare_flask.py PORT [THREADS] [--server granian|waitress]
     [--workers N]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from flask import Flask, Response

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


def serve_granian(port: int, threads: int, workers: int) -> None:
    """``workers`` forked processes serving one listener until SIGTERM."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ivr.roles.http import GranianOptions, GranianWorker, bind_listener

    options = GranianOptions(threads=threads)
    listener = bind_listener("127.0.0.1", port, options.backlog)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})   # inherited: sigwait below
    children = []
    for index in range(1, workers + 1):
        pid = os.fork()
        if pid == 0:
            worker = GranianWorker(make_app(), listener, options, worker_id=index)
            worker.start()
            signal.sigwait({signal.SIGTERM})
            worker.stop(5.0)
            os._exit(0)
        children.append(pid)
    signal.sigwait({signal.SIGTERM})
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    for pid in children:
        os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int)
    parser.add_argument("threads", type=int, nargs="?", default=16)
    parser.add_argument("--server", choices=("granian", "waitress"), default="granian")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.server == "waitress":
        from waitress import serve

        serve(make_app(), host="127.0.0.1", port=args.port, threads=args.threads, ident="bare")
    else:
        serve_granian(args.port, args.threads, args.workers)


if __name__ == "__main__":
    main()

"""CPU ms per accepted Ozeki SendSms on the HTTP request path alone, in process.

No socket and no waitress: the real WSGI app is called with the environ waitress would
build (auth, rate limiter, validation, SQLite commit with fsync, logging at INFO to a
discarded stream), with the SMS workers stopped, so the figure is the request path's own
cost, not the pipeline's. Not Flask's test client: it builds ``request.url`` twice per
request for its cookie jar, which the server never does. The same request as
``bench/api_bench.py`` sends. ``--profile`` prints the top of cProfile.
Run: .venv/bin/python bench/api_profile.py [--requests 3000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_bench import IvrServer  # noqa: E402

from ivr.api.app import create_app  # noqa: E402
from ivr.config import load_settings  # noqa: E402
from ivr.service import build_services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 40")
    args = parser.parse_args()
    # Like `ivr serve`: INFO through a real handler, written to a stream nobody reads.
    logging.basicConfig(level=logging.INFO, stream=io.StringIO(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="ivr-profile-") as tmp:
        config = IvrServer.write_config(Path(tmp))
        settings = load_settings([config])
        # As `ivr serve --demo` (which api_bench runs): the report URL is on this machine.
        settings.sms.callback_allow.extend(["127.0.0.0/8", "::1"])
        services = build_services(settings)
        services.users.ensure_demo_user()
        app = create_app(services.settings, services)
        paths = [IvrServer.path(n % 8, n, "http%3A%2F%2F127.0.0.1%3A9%2Fdlr") for n in range(args.requests)]
        for path in paths[:50]:     # warm-up: imports, the scrypt check, SQLite caches
            assert IvrServer.ok(*_get(app, path))
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for path in paths:
            status, body = _get(app, path)
            assert IvrServer.ok(status, body), body
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        services.sms.store.close()
        services.users.close()
    print(f"{args.requests} requests: {cpu / args.requests * 1000:.3f} ms CPU, "
          f"{wall / args.requests * 1000:.3f} ms wall per request"
          + (" (under cProfile)" if profiler else ""))
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def _get(app: Callable[..., Any], path: str) -> tuple[int, bytes]:
    """GET ``path`` through the WSGI interface, with the keys waitress puts in the environ."""
    path_info, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path_info,
               "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9509",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "REMOTE_HOST": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_SOFTWARE": "ivr",
               "HTTP_HOST": "127.0.0.1:9509", "HTTP_ACCEPT_ENCODING": "identity",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
               "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
               "wsgi.run_once": False, "wsgi.input_terminated": True}
    status: list[str] = []
    chunks = app(environ, lambda line, headers, exc_info=None: status.append(line))
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0]), body


if __name__ == "__main__":
    main()

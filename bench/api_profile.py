"""CPU ms per accepted Ozeki SendSms on the HTTP request path alone, in process.

No socket and no waitress: the real WSGI app is called with the environ waitress would
build (auth, rate limiter, validation, SQLite commit with fsync, logging at INFO to a
discarded stream), with the SMS workers stopped, so the figure is the request path's own
cost, not the pipeline's. Not Flask's test client: it builds ``request.url`` twice per
request for its cookie jar, which the server never does. The same request as
``bench/api_bench.py`` sends. ``--profile`` prints the top of cProfile.
The same requests against bench/bare_flask.py's app give the floor of Flask itself.
Run: .venv/bin/python bench/api_profile.py [--requests 2000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
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

import bare_flask  # noqa: E402
from api_bench import IvrServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 40")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="profile the ivr package of another source tree (e.g. an export "
                             "of an older commit), with this benchmark's requests")
    args = parser.parse_args()
    sys.path.insert(0, str(args.source.resolve()))
    from ivr.api.app import create_app
    from ivr.config import load_settings
    from ivr.service import build_services

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
        paths = [IvrServer.path(n % 8, n, "http%3A%2F%2F127.0.0.1%3A9%2Fdlr")
                 for n in range(args.requests)]
        for path in paths[:50]:     # warm-up: imports, the scrypt check, SQLite caches
            assert IvrServer.ok(*_get(app, path))
        profiler = cProfile.Profile() if args.profile else None
        ivr = _rounds(app, paths, args.rounds, profiler)
        bare = _rounds(bare_flask.make_app(), paths, args.rounds, None)
        services.sms.store.close()
        services.users.close()
    note = " (under cProfile)" if profiler else ""
    print(f"ivr SendSms ({args.source}){note}: {ivr}")
    print(f"bare Flask route (bench/bare_flask.py), same requests: {bare}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def _rounds(app: Callable[..., Any], paths: list[str], rounds: int,
            profiler: cProfile.Profile | None) -> str:
    """Per-request user and system CPU and wall time over ``rounds`` rounds of ``paths``:
    the best round and the median (the machine is shared; the best is the least disturbed)."""
    results: list[tuple[float, float, float]] = []
    for _ in range(rounds):
        before, wall = os.times(), time.perf_counter()
        if profiler:
            profiler.enable()
        for path in paths:
            status, body = _get(app, path)
            assert IvrServer.ok(status, body), body
        if profiler:
            profiler.disable()
        after, wall = os.times(), time.perf_counter() - wall
        n = len(paths) / 1000
        results.append(((after.user - before.user) / n, (after.system - before.system) / n,
                        wall / n))
    best = min(results, key=lambda r: r[0] + r[1])
    median = sorted(results, key=lambda r: r[0] + r[1])[len(results) // 2]
    return (f"CPU ms/request best {best[0] + best[1]:.3f} (user {best[0]:.3f}, sys "
            f"{best[1]:.3f}), median {median[0] + median[1]:.3f} (user {median[0]:.3f}, sys "
            f"{median[1]:.3f}); wall best {min(r[2] for r in results):.3f}")


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

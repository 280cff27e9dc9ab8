"""A recording HTTP server for delivery-report callbacks (tests and manual runs).

Every request is recorded (method, path, query, form, headers). It can answer with an error
status for a while, or be stopped and started again on the same port to act as an
application that is down.
Run by hand:  python tools/callback_receiver.py --port 8000   (prints each hit)
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["CallbackReceiver", "Hit"]


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    url: str
    body: bytes
    at: float = field(default_factory=time.time)


class CallbackReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, echo: bool = False) -> None:
        self.host = host
        self.port = port
        self.echo = echo
        self.hits: list[Hit] = []
        self.status = 200
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        hit = Hit(request.method, request.path, dict(parse_qsl(request.query_string.decode())),
                  dict(parse_qsl(body.decode("utf-8", "replace")))
                  if request.mimetype == "application/x-www-form-urlencoded" else {},
                  dict(request.headers), self._raw_url(request), body)
        with self._lock:
            self.hits.append(hit)
            status = self.status
        if self.echo:
            print(f"{hit.method} {hit.url} {hit.form or ''}", flush=True)
        return Response("ok" if status < 300 else "error", status=status)(environ,
                                                                          start_response)

    @staticmethod
    def _raw_url(request: Request) -> str:
        """The URL exactly as requested: the signature covers these bytes, and werkzeug's
        ``request.url`` re-quotes the query (``%3A`` comes back as ``:``)."""
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        if not raw:
            return str(request.url)
        return f"{request.scheme}://{request.host}{raw}"

    def start(self) -> CallbackReceiver:
        self._server = make_server(self.host, self.port, self._app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.hits) >= count:
                    return list(self.hits)
            time.sleep(0.02)
        with self._lock:
            return list(self.hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    receiver = CallbackReceiver(port=args.port, echo=True).start()
    print(f"listening on {receiver.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()

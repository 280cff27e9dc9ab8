"""Small, independent HTTP provider servers implementing the documented behaviour of seeds 000-003.

They are written from the documents, not from our client, so a test against them checks our
transport against the provider's contract (including its error answers). Each runs on
127.0.0.1, port 0 by default, in a thread::

    python tools/http_peers.py restcomm --port 8089     # run one by hand

Misbehaviours are mixins composed with a peer (``Unavailable``, ``Slow``), one per failure,
in the simulator style of design.md convention 5.

* ``AcrobitsPeer`` (000): any path; GET query, POST form or POST JSON; ``from``/``password``
  with ``sms_to``/``sms_body`` (the example requests) or ``to``/``body`` (the example
  ``genericSmsSendUrl``); 200 ``{"sms_id": …}``; 406 ``{"message": "Invalid recipient"}``;
  402 ``Not enough credit`` (text/xml, as the example); 401 ``{"message": …}`` for bad login.
* ``JsonApiPeer`` (001): ``POST /api/message``; arguments in the query string or form body;
  repeated ``destination_number`` paired by position with ``body``/``require_dlr``/
  ``request_id``; ``data`` object or array, or ``errors`` (never both).
* ``EnswitchPeer`` (002): ``/api/json/messages/text/send/``; ``;`` or ``&`` separated; codes
  204/400 (``key`` names the field)/401/402/403 in ``responses[0]``.
* ``RestcommPeer`` (003): ``/restcomm/2012-04-24/Accounts/{sid}/SMS/Messages[.json]`` with Basic
  auth; posts status callbacks (``sent`` then ``delivered``/``undelivered``) to StatusCallback.
* ``Recorder``: records every hit (a callback / DLR receiver).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

__all__ = [
    "AcrobitsPeer",
    "EnswitchPeer",
    "Hit",
    "JsonApiPeer",
    "Peer",
    "Recorder",
    "RestcommPeer",
    "Slow",
    "Unavailable",
]


@dataclass
class Hit:
    """One request as the peer saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        values = self.params.get(name) or [""]
        return values[0]


def _json(status: int, document: Any, content_type: str = "application/json") -> Response:
    return Response(json.dumps(document), status=status, content_type=content_type)


def split_params(text: str, separators: str = "&") -> dict[str, list[str]]:
    """Parse ``a=1&b=2`` (or ``;``-separated) into lists, keeping blanks and order."""
    params: dict[str, list[str]] = {}
    items: Iterable[str] = [text]
    for sep in separators:
        items = [piece for item in items for piece in item.split(sep)]
    for item in items:
        if not item:
            continue
        key, _, value = item.partition("=")
        params.setdefault(urllib.parse.unquote_plus(key), []).append(
            urllib.parse.unquote_plus(value))
    return params


class Peer:
    """A WSGI app on its own server thread; ``hits`` records every request in order."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Peer:
        self._server = make_server(host, port, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Peer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "peer not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def netloc(self) -> str:
        return self.url.removeprefix("http://")

    # -- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = request.get_data(cache=True)
        params = split_params(request.query_string.decode("latin-1"), self.query_separators)
        ctype = (request.mimetype or "").lower()
        if ctype == "application/x-www-form-urlencoded":
            for key, values in split_params(body.decode("utf-8"),
                                            self.query_separators).items():
                params.setdefault(key, []).extend(values)
        elif ctype == "application/json" and body.strip():
            try:
                document = json.loads(body)
            except ValueError:
                document = None
            if isinstance(document, dict):
                for key, value in document.items():
                    params.setdefault(key, []).append(str(value))
        hit = Hit(request.method, request.path, request.query_string.decode("latin-1"),
                  dict(request.headers), body, params)
        with self._lock:
            self.hits.append(hit)
        response = self.before(request, hit) or self.handle(request, hit)
        return response(environ, start_response)

    query_separators = "&"

    def before(self, request: Request, hit: Hit) -> Response | None:
        """Misbehaviour hook: a mixin returns a response here to short-circuit ``handle``."""
        return None

    def handle(self, request: Request, hit: Hit) -> Response:
        return Response("", status=204)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Hit]:
        """Wait until at least ``count`` hits arrived; raise AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.hits) >= count:
                    return list(self.hits)
            time.sleep(0.02)
        raise AssertionError(f"{type(self).__name__}: {len(self.hits)} hits, wanted {count}")


class Unavailable(Peer):
    """Mixin: every request answers 503 (a transient provider outage)."""

    def before(self, request: Request, hit: Hit) -> Response | None:
        return Response("Service temporarily unavailable, try again later", status=503)


class Slow(Peer):
    """Mixin: answer only after ``delay`` seconds (longer than the client's timeout)."""

    delay = 3.0

    def before(self, request: Request, hit: Hit) -> Response | None:
        time.sleep(self.delay)
        return None


class Recorder(Peer):
    """Records every hit and answers 200 OK (callback and DLR receiver)."""

    def handle(self, request: Request, hit: Hit) -> Response:
        return Response("OK", status=200, content_type="text/plain")


# ---------------------------------------------------------------------------------------------
# 000 Acrobits "Send Message" web service


class AcrobitsPeer(Peer):
    """A service provider implementing seed 000's Send Message web service."""

    def __init__(self, accounts: dict[str, str] | None = None,
                 no_credit: Iterable[str] = ()) -> None:
        super().__init__()
        self.accounts = accounts if accounts is not None else {"johndow": "12345678"}
        self.no_credit = set(no_credit)
        self._ids = itertools.count(12456)

    def handle(self, request: Request, hit: Hit) -> Response:
        user, password = hit.first("from"), hit.first("password")
        if self.accounts.get(user) != password or not user:
            return _json(401, {"message": "Invalid username or password"})
        to = hit.first("sms_to") or hit.first("to")
        body = hit.first("sms_body") or hit.first("body")
        if to.startswith("sip:"):
            valid = "@" in to
        else:
            digits = "".join(c for c in to if c.isdigit())
            valid = 3 <= len(digits) <= 15 and all(c in "+0123456789()- ." for c in to)
        if not valid:
            return _json(406, {"message": "Invalid recipient"})
        if user in self.no_credit:
            return Response("Not enough credit", status=402, content_type="text/xml")
        if not body:
            return _json(400, {"message": "Empty message"})
        return _json(200, {"sms_id": str(next(self._ids))})


# ---------------------------------------------------------------------------------------------
# 001 HTTP API message (JSON:API)


def _jsonapi_error(status: int, code: str, detail: str, title: str) -> Response:
    return _json(status, {"errors": [{"code": code, "detail": detail, "title": title}]},
                 "application/vnd.api+json")


class JsonApiPeer(Peer):
    """A server implementing seed 001's ``POST /api/message``."""

    def __init__(self, accounts: dict[str, str] | None = None) -> None:
        super().__init__()
        self.accounts = accounts if accounts is not None else {"LOGIN": "PASSWORD"}
        self._ids = itertools.count(1561370632513)

    def handle(self, request: Request, hit: Hit) -> Response:
        if request.path.rstrip("/") != "/api/message":
            return _jsonapi_error(404, "not_found", "No such resource", "Not found")
        if request.method != "POST":
            return _jsonapi_error(405, "method", "Use POST", "Method not allowed")
        login = hit.first("_login")
        if not login or self.accounts.get(login) != hit.first("_password"):
            return _jsonapi_error(401, "authentication", "Please check your login and password",
                                  "Authentication error")
        numbers = hit.params.get("destination_number", [])
        if not numbers or not all(n.strip() for n in numbers):
            return _jsonapi_error(400, "destination_number", "destination_number is required",
                                  "Invalid parameter")
        bad = [n for n in numbers if not n.lstrip("+").isdigit()]
        if bad:
            return _jsonapi_error(400, "destination_number", f"Invalid number {bad[0]}",
                                  "Invalid parameter")
        bodies = hit.params.get("body", [])
        request_ids = hit.params.get("request_id", [])
        items = []
        for index, number in enumerate(numbers):
            body = bodies[index] if index < len(bodies) else ""
            segments = max(1, -(-len(body) // 153)) if len(body) > 160 else 1
            request_id = (request_ids[index] if index < len(request_ids) and request_ids[index]
                          else str(index + 1))
            items.append({"attributes": {"destination_number": number.lstrip("+"),
                                         "segments": segments, "status": "ok"},
                          "id": str(next(self._ids)), "meta": {"request_id": request_id},
                          "type": "message"})
        data: Any = items[0] if len(items) == 1 else items
        return _json(200, {"data": data}, "application/vnd.api+json")


# ---------------------------------------------------------------------------------------------
# 002 Enswitch messages/text/send


def _enswitch(code: str, key: str = "", message: str = "OK") -> Response:
    status = 200 if code == "204" else int(code)
    return _json(status, {"responses": [{"code": code, "key": key, "message": message}]})


@dataclass
class EnswitchAccount:
    password: str
    numbers: set[str] = field(default_factory=set)    # numbers/lines the customer owns
    can_send: bool = True                              # role privilege (402 otherwise)
    rate_plan_allows: bool = True                      # rate plan (403 otherwise)


class EnswitchPeer(Peer):
    """A server implementing seed 002's ``messages/text/send``."""

    query_separators = ";&"
    max_attachment_bytes = 1_000_000

    def __init__(self, accounts: dict[str, EnswitchAccount] | None = None) -> None:
        super().__init__()
        self.accounts = accounts if accounts is not None else {
            "user": EnswitchAccount("password", {"2125550000", "1234567"})}
        self.sent: list[dict[str, str]] = []

    def handle(self, request: Request, hit: Hit) -> Response:
        if request.path.rstrip("/") != "/api/json/messages/text/send":
            return _enswitch("400", "", "Unknown function")
        account = self.accounts.get(hit.first("auth_username"))
        if account is None or account.password != hit.first("auth_password"):
            return _enswitch("401", "", "The authentication details provided are invalid.")
        if not account.can_send:
            return _enswitch("402", "", "Your role does not allow this.")
        if not account.rate_plan_allows:
            return _enswitch("403", "", "Your rate plan does not allow this.")
        for key in ("cnumber", "message", "snumber"):
            if not hit.first(key):
                return _enswitch("400", key, f"Missing required parameter {key}.")
        stype = hit.first("stype")
        if stype not in ("", "phone"):
            return _enswitch("400", "stype", "stype must be \"phone\" or empty.")
        if hit.first("snumber") not in account.numbers:
            return _enswitch("400", "snumber", "The customer does not own this number.")
        index = 1
        while f"filename{index}" in hit.params or f"file{index}" in hit.params:
            try:
                data = base64.b64decode(hit.first(f"file{index}"), validate=True)
            except ValueError:
                return _enswitch("400", f"file{index}", "Invalid base64 data.")
            if len(data) > self.max_attachment_bytes:
                return _enswitch("400", f"file{index}", "File too large.")
            index += 1
        self.sent.append({k: hit.first(k) for k in ("cnumber", "snumber", "stype", "message")})
        return _enswitch("204")


# ---------------------------------------------------------------------------------------------
# 003 Restcomm SMS API


def _rfc2822_now() -> str:
    return format_datetime(time_now(), usegmt=False)


def time_now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class RestcommPeer(Peer):
    """A CPaaS implementing seed 003's SMS resource, status callbacks included.

    Recipients ending in ``0000`` end ``undelivered`` (30003 Unreachable destination handset),
    everything else ``delivered``; ``callback_delay`` seconds separate the two events.
    """

    prefix = "/restcomm/2012-04-24/Accounts/"
    callback_delay = 0.05

    def __init__(self, accounts: dict[str, str] | None = None) -> None:
        super().__init__()
        self.accounts = accounts if accounts is not None else {
            "AC" + "0" * 32: "YourAuthToken"}
        self.messages: dict[str, dict[str, Any]] = {}
        self.callbacks_sent: list[tuple[str, dict[str, str]]] = []
        self._threads: list[threading.Thread] = []

    def stop(self) -> None:
        super().stop()
        for thread in self._threads:
            thread.join(timeout=10)

    def handle(self, request: Request, hit: Hit) -> Response:
        if not request.path.startswith(self.prefix):
            return _json(404, {"message": "Not found", "status": 404})
        rest = request.path[len(self.prefix):]
        account_sid, _, tail = rest.partition("/")
        auth = request.authorization
        if (auth is None or auth.username not in self.accounts
                or self.accounts[auth.username] != auth.password):
            return _json(401, {"message": "Authentication is required", "status": 401})
        if auth.username != account_sid:
            return _json(403, {"message": "Forbidden: not your account", "status": 403})
        if tail.removesuffix(".json") != "SMS/Messages" or request.method != "POST":
            return _json(405, {"message": "Only POST to SMS/Messages is simulated"})
        for key in ("From", "To", "Body"):
            if not hit.first(key):
                return _json(400, {"message": f"{key} is required", "status": 400})
        to = hit.first("To")
        if not to.startswith("client:") and not to.lstrip("+").isdigit():
            return _json(400, {"message": f"To {to!r} is not a valid E.164 number",
                               "status": 400})
        sid = "SM" + uuid.uuid4().hex
        now = _rfc2822_now()
        resource = {"sid": sid, "date_created": now, "date_updated": now,
                    "account_sid": account_sid, "from": hit.first("From"), "to": to,
                    "body": hit.first("Body"), "status": "sending",
                    "direction": "outbound-api", "api_version": "2012-04-24",
                    "uri": f"/api/2012-04-24/Accounts/{account_sid}/SMS/Messages/{sid}.json"}
        self.messages[sid] = resource
        callback = hit.first("StatusCallback")
        if callback and not to.startswith("client:"):
            method = (hit.first("StatusCallbackMethod") or "POST").upper()
            thread = threading.Thread(target=self._notify, args=(callback, method, resource),
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        return _json(200, resource)

    def _notify(self, url: str, method: str, resource: dict[str, Any]) -> None:
        """Seed 003: the sent event first, then the delivery event (same parameter set)."""
        final = "undelivered" if resource["to"].endswith("0000") else "delivered"
        for status in ("sent", final):
            time.sleep(self.callback_delay)
            params = {"MessageSid": resource["sid"], "MessageStatus": status}
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            params.update({"AccountSid": resource["account_sid"], "From": resource["from"],
                           "To": resource["to"], "Body": resource["body"]})
            try:
                if method == "GET":
                    requests.get(url, params=params, timeout=10)
                else:
                    requests.post(url, data=params, timeout=10)
            except requests.RequestException:
                pass  # a real CPaaS would retry; the test sees the missing callback
            self.callbacks_sent.append((status, params))


_PEERS: dict[str, type[Peer]] = {
    "acrobits": AcrobitsPeer, "jsonapi": JsonApiPeer, "enswitch": EnswitchPeer,
    "restcomm": RestcommPeer, "recorder": Recorder,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(_PEERS))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    peer = _PEERS[args.peer]().start(port=args.port)
    print(f"{args.peer} peer listening on {peer.url} (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        peer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

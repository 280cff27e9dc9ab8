"""Call control across processes: the HTTP workers reach the voice process's calls over a
unix stream socket ``<data_dir>/voice-control.sock``.

:class:`RemoteCalls` has the methods of :class:`ivr.voice.calls.CallControl` that the API
uses (``services.calls``), so the Ozeki views do not know the calls live elsewhere.
The socket file is mode 0600 from the moment it exists and the server also checks the peer's
uid (``SO_PEERCRED``): only the user running ivr (or root) controls calls.

Wire format: one JSON object per line, one request per connection:
``{"op": "hangup", "args": ["<call id>"]}`` -> ``{"ok": true}`` /
``{"result": ...}`` / ``{"error": "no-call" | "refused" | "internal", "message": "..."}``.
When the voice process is down its calls are gone with it: ListActiveCalls is empty, a
command for a call id is "no such call", and Call fails with a clear message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import struct
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ivr.call_history import CallHistory, CallQuery, CallRecord
from ivr.errors import IvrError
from ivr.roles.unixsock import bind_private, unlink_if_ours
from ivr.voice.calls import CallControl, CallInfo

__all__ = ["ControlServer", "RemoteCalls", "control_socket_path", "encode_call",
           "decode_call"]

log = logging.getLogger(__name__)

_SOCKET_NAME = "voice-control.sock"
_MAX_LINE = 1 << 20
_S, _F = "str", "float"
# Each command and its arguments' types: what crosses the socket is checked against this.
_OPS: dict[str, tuple[str, ...]] = {
    "list_calls": (), "hangup": (_S,), "send_dtmf": (_S, _S), "speak": (_S, _S),
    "play": (_S, _S), "originate": (_S, _S, _S), "call": (_S, _S, _S, _S, _S),
    "hold": (_S,), "unhold": (_S,), "blind_transfer": (_S, _S), "forward": (_S, _S),
    "attended_transfer": (_S, _S), "send_message": (_S, _S), "receive_message": (_S, _F),
    "record_to": (_S, _F, _S)}
# Commands that wait for the phones: the answer may take this long (ring timeout + timer H).
_SLOW = {"attended_transfer": 150.0, "hold": 40.0, "unhold": 40.0}


def control_socket_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / _SOCKET_NAME


def encode_call(info: CallInfo) -> dict[str, Any]:
    fields = asdict(info)
    fields["start_time"] = info.start_time.isoformat()
    return fields


def decode_call(fields: dict[str, Any]) -> CallInfo:
    return CallInfo(**{**fields, "start_time": dt.datetime.fromisoformat(fields["start_time"])})


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > _MAX_LINE:
            break
    return b"".join(chunks)


class ControlServer:
    """Serves ``calls`` (the voice process's CallControl) on ``path``; a thread per request,
    as each command may take a while (SendDTMF plays its digits, Speak renders TTS)."""

    def __init__(self, path: Path, calls: CallControl) -> None:
        self.path = path
        self.calls = calls
        self._sock: socket.socket | None = None
        self._inode = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        sock, self._inode = bind_private(self.path, socket.SOCK_STREAM)
        sock.listen(64)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="voice-control", daemon=True)
        self._thread.start()
        log.info("call control on %s", self.path)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
            unlink_if_ours(self.path, self._inode)

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="voice-control-req",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10.0)
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                      struct.calcsize("3i")))[1]
            if uid not in (os.getuid(), 0):
                log.warning("call control: refused a connection from uid %d", uid)
                return
            try:
                request = json.loads(_read_line(conn))
                reply = self.handle(request)
            except (ValueError, OSError) as exc:
                reply = {"error": "refused", "message": f"bad request: {exc}"}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One command -> its reply (pure dispatch onto CallControl)."""
        op, args = request.get("op"), request.get("args", [])
        if not isinstance(op, str) or op not in _OPS or not isinstance(args, list) or \
                not _typed(args, _OPS[op]):
            return {"error": "refused", "message": f"unknown command {op!r}"}
        try:
            if op == "list_calls":
                return {"result": [encode_call(c) for c in self.calls.list_calls()]}
            result = getattr(self.calls, op)(*args)
        except KeyError:
            return {"error": "no-call", "message": f"no active call {args[0]!r}"}
        except IvrError as exc:
            return {"error": "refused", "message": str(exc)}
        except Exception:
            log.exception("call control: %s failed", op)
            return {"error": "internal", "message": f"{op} failed in the voice process"}
        return {"result": result}


def _typed(args: list[Any], types: tuple[str, ...]) -> bool:
    return len(args) == len(types) and all(
        isinstance(a, str) if t == _S else isinstance(a, int | float) and not isinstance(a, bool)
        for a, t in zip(args, types, strict=True))


class RemoteCalls:
    """``services.calls`` in an HTTP worker: the CallControl methods the API uses, carried
    out by the voice process. The call history is read from the database directly: it
    outlives calls and the voice process alike."""

    def __init__(self, path: Path, timeout: float = 30.0,
                 history: CallHistory | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.history = history

    def _ask(self, op: str, *args: str | float) -> Any:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(max(self.timeout, _SLOW.get(op, 0.0),
                                    float(args[1]) + 10 if op == "receive_message" else 0.0))
                sock.connect(str(self.path))
                sock.sendall(json.dumps({"op": op, "args": list(args)}).encode() + b"\n")
                reply = json.loads(_read_line(sock) or b"null")
        except (OSError, ValueError) as exc:
            raise _VoiceDown(f"the voice process is not reachable on {self.path} "
                             f"({exc.__class__.__name__}); is it (re)starting?") from None
        if not isinstance(reply, dict):
            raise _VoiceDown("the voice process closed the connection without an answer")
        error = reply.get("error")
        if error == "no-call":
            raise KeyError(args[0])
        if error:
            raise IvrError(str(reply.get("message", error)))
        return reply.get("result")

    def list_calls(self) -> list[CallInfo]:
        try:
            return [decode_call(c) for c in self._ask("list_calls")]
        except _VoiceDown as exc:
            log.warning("ListActiveCalls: %s; no calls to list", exc)
            return []          # its calls ended with it

    def _on_call(self, op: str, call_id: str, *args: str | float) -> Any:
        try:
            return self._ask(op, call_id, *args)
        except _VoiceDown as exc:
            log.warning("[call %s] %s: %s", call_id, op, exc)
            raise KeyError(call_id) from None   # ended with the voice process

    def hangup(self, call_id: str) -> bool:
        return bool(self._on_call("hangup", call_id))

    def send_dtmf(self, call_id: str, keys: str) -> bool:
        return bool(self._on_call("send_dtmf", call_id, keys))

    def speak(self, call_id: str, text: str) -> bool:
        return bool(self._on_call("speak", call_id, text))

    def play(self, call_id: str, source: str) -> bool:
        return bool(self._on_call("play", call_id, source))

    def hold(self, call_id: str) -> bool:
        return bool(self._on_call("hold", call_id))

    def unhold(self, call_id: str) -> bool:
        return bool(self._on_call("unhold", call_id))

    def blind_transfer(self, call_id: str, target: str) -> bool:
        return bool(self._on_call("blind_transfer", call_id, target))

    def forward(self, call_id: str, destination: str) -> bool:
        return bool(self._on_call("forward", call_id, destination))

    def attended_transfer(self, call_id: str, target: str) -> str:
        return str(self._on_call("attended_transfer", call_id, target))

    def send_message(self, call_id: str, text: str) -> bool:
        return bool(self._on_call("send_message", call_id, text))

    def receive_message(self, call_id: str, timeout: float) -> str | None:
        text = self._on_call("receive_message", call_id, timeout)
        return None if text is None else str(text)

    def record_to(self, call_id: str, seconds: float, finished_url: str = "") -> str:
        return str(self._on_call("record_to", call_id, seconds, finished_url))

    def originate(self, number: str, script: str, caller_id: str = "") -> str:
        return str(self._ask("originate", number, script, caller_id))

    def call(self, number: str, script: str, caller_id: str = "", display_name: str = "",
             error_url: str = "") -> str:
        return str(self._ask("call", number, script, caller_id, display_name, error_url))

    def list_history(self, query: CallQuery) -> tuple[list[CallRecord], int]:
        if self.history is None:
            raise IvrError("no call history in this process")
        return self.history.query(query)

    def close(self) -> None:
        if self.history is not None:
            self.history.close()


class _VoiceDown(IvrError):
    """The voice process did not answer (not running, restarting, or it died mid-way)."""

"""Wake-ups from the processes that commit work to the SMS core that does it.

The store is the bus: an HTTP worker (or the voice process) commits a message, then tells
the SMS core "look now" so the dispatcher does not wait for its next poll. The wake-up only
shortens latency; a lost one costs at most the dispatcher's poll period (1 s), never a
message, because the core finds due work in the store on its own.

- SQLite: a datagram to the unix socket ``<data_dir>/sms-wake.sock`` that the SMS core
  binds (mode 0600), none while an earlier one of the same kind is still unread
  (:class:`DatagramWaker`). A datagram socket needs no connection and never blocks the
  sender: a full receive buffer (the core is already busy) drops the wake-up, harmlessly.
- PostgreSQL: ``NOTIFY ivr_sms_wake`` on the shared database, so a core on another machine
  is woken too; every core runs ``LISTEN``.

The payload says what was committed: ``m`` (a message to send) or ``c`` (a callback to
deliver, e.g. after an HTTP provider's delivery report reached an HTTP worker).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
import termios
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ivr.roles.unixsock import bind_private, unlink_if_ours

__all__ = ["Wake", "WakeSender", "DatagramWaker", "NotifyWaker", "WakeListener",
           "DatagramListener", "NotifyListener", "wake_socket_path", "build_waker",
           "build_listener", "decode_wake", "encode_wake", "MESSAGE", "CALLBACK", "CHANNEL"]

log = logging.getLogger(__name__)

MESSAGE = "m"      # a queued message was committed
CALLBACK = "c"     # a callback job was committed
CHANNEL = "ivr_sms_wake"
_SOCKET_NAME = "sms-wake.sock"

# What SmsService's ``wake`` hook is: called with MESSAGE or CALLBACK after a commit.
Wake = Callable[[str], None]


class WakeSender(Protocol):
    def __call__(self, kind: str) -> None: ...
    def close(self) -> None: ...


class WakeListener(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def wake_socket_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / _SOCKET_NAME


def _is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgresql://", "postgres://"))


class DatagramWaker:
    """One datagram per commit, unless one sent earlier is still unread: never blocks,
    never raises, never loses a wake-up, and wakes no thread of its own.

    Under load an HTTP worker commits hundreds of messages a second; a datagram each costs a
    syscall in the request and, in the SMS core, a read and a wake-up of a dispatcher
    worker, although the core is already busy. So before sending, the waker asks the kernel
    how much of what it sent the core has not read yet (``SIOCOUTQ``: a unix datagram stays
    charged to its sender until the receiver reads it). If a datagram of the same kind is
    still queued, the core will read it *after* this commit and look at the store after
    that, so it will see this message: nothing is sent. Otherwise one datagram goes at
    once, carrying how many calls it stands for (``m`` or ``m17``). One socket per kind, so
    an unread ``c`` never stands in for an ``m``. (A timer that sent one datagram per
    interval was tried first: its thread's wake-ups cost the worker more context switches
    than the datagrams it saved.)
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._socks: dict[str, socket.socket] = {}
        self._calls: dict[str, int] = {}     # kind -> calls since its last datagram
        self._lock = threading.Lock()

    def __call__(self, kind: str) -> None:
        sock = self._socks.get(kind) or self._open(kind)
        # Counted without the lock: a lost increment only lowers a hint to the core.
        calls = self._calls[kind] = self._calls.get(kind, 0) + 1
        try:
            if _unread(sock):
                return
            self._calls[kind] = 0
            sock.sendto(encode_wake(kind, calls), self.path)
        except OSError:
            # ENOENT/ECONNREFUSED: no core running (it will find the work when it starts);
            # EAGAIN: its buffer is full, i.e. it has wake-ups pending already.
            pass

    def _open(self, kind: str) -> socket.socket:
        with self._lock:
            sock = self._socks.get(kind)
            if sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                self._socks[kind] = sock
            return sock

    def close(self) -> None:
        with self._lock:
            for sock in self._socks.values():
                sock.close()
            self._socks.clear()


def _unread(sock: socket.socket) -> int:
    """Bytes this socket sent that their receiver has not read yet (Linux ``SIOCOUTQ``,
    which equals ``TIOCOUTQ``, on a unix socket: unix(7))."""
    queued: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                                 b"\0\0\0\0"))[0]
    return queued


def encode_wake(kind: str, count: int) -> bytes:
    """``m`` for one wake-up, ``m17`` for seventeen (one datagram for many commits)."""
    return (kind if count == 1 else f"{kind}{count}").encode("ascii")


def decode_wake(payload: bytes) -> tuple[str, int]:
    """(kind, count) of a datagram; a count that is not a number counts as one."""
    text = payload.decode("ascii", "replace")
    count = text[1:]
    return text[:1], int(count) if count.isdigit() else 1


class NotifyWaker:
    """``NOTIFY`` on one autocommit connection of its own; wake-ups that arrive while one
    is being sent are folded into the next, so a burst costs a few round trips."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sms-wake-notify", daemon=True)
        self._thread.start()

    def __call__(self, kind: str) -> None:
        with self._cond:
            self._pending.add(kind)
            self._cond.notify()

    def _run(self) -> None:
        import psycopg

        conn: Any = None
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    break
                kinds, self._pending = self._pending, set()
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.database_url, autocommit=True,
                                           connect_timeout=5)
                for kind in sorted(kinds):
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, kind))
            except psycopg.Error as exc:
                log.warning("cannot NOTIFY the SMS core (%s); it will find the work by "
                            "polling", exc)
                conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(5.0)


def build_waker(database_url: str, data_dir: str) -> WakeSender:
    if _is_postgres(database_url):
        return NotifyWaker(database_url)
    return DatagramWaker(wake_socket_path(data_dir))


class DatagramListener:
    """The SMS core's end of the SQLite wake-up: binds ``<data_dir>/sms-wake.sock`` (0600)
    and calls ``on_wake(kind, count)`` once per batch of datagrams read."""

    def __init__(self, path: Path, on_wake: Callable[[str, int], None]) -> None:
        self.path = path
        self.on_wake = on_wake
        self._sock: socket.socket | None = None
        self._inode = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._sock, self._inode = bind_private(self.path, socket.SOCK_DGRAM)
        except OSError as exc:    # e.g. a path longer than a unix socket address allows
            log.warning("cannot listen for wake-ups on %s (%s); the SMS core polls the store "
                        "once a second instead", self.path, exc)
            return
        self._sock.settimeout(0.5)
        self._thread = threading.Thread(target=self._run, name="sms-wake", daemon=True)
        self._thread.start()
        log.info("SMS core wake-ups on %s", self.path)

    def _run(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stop.is_set():
            try:
                first = sock.recv(16)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            kind, count = decode_wake(first)
            counts = {kind: count}
            sock.setblocking(False)
            try:   # fold everything already queued into one call
                while True:
                    kind, count = decode_wake(sock.recv(16))
                    counts[kind] = counts.get(kind, 0) + count
            except (BlockingIOError, InterruptedError):
                pass
            finally:
                sock.settimeout(0.5)
            for kind, count in counts.items():
                self.on_wake(kind, count)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
            unlink_if_ours(self.path, self._inode)


class NotifyListener:
    """The SMS core's end of the PostgreSQL wake-up: ``LISTEN`` on its own connection."""

    def __init__(self, database_url: str, on_wake: Callable[[str, int], None]) -> None:
        self.database_url = database_url
        self.on_wake = on_wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sms-wake", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True,
                                     connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    log.info("SMS core wake-ups on LISTEN %s", CHANNEL)
                    while not self._stop.is_set():
                        counts: dict[str, int] = {}
                        for note in conn.notifies(timeout=0.5, stop_after=256):
                            counts[note.payload] = counts.get(note.payload, 0) + 1
                        for kind, count in counts.items():
                            self.on_wake(kind, count)
            except psycopg.Error as exc:
                log.warning("LISTEN %s failed (%s); polling until it is back", CHANNEL, exc)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


def build_listener(database_url: str, data_dir: str,
                   on_wake: Callable[[str, int], None]) -> WakeListener:
    if _is_postgres(database_url):
        return NotifyListener(database_url, on_wake)
    return DatagramListener(wake_socket_path(data_dir), on_wake)

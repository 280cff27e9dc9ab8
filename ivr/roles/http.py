"""One HTTP worker: the unchanged Flask app under granian's WSGI server, on a listening
socket the supervisor bound and every worker shares (the kernel spreads the connections).

Granian parses HTTP and holds connections in Rust threads, outside the GIL; Python runs
only inside the WSGI call. An idle keep-alive connection therefore costs no Python thread
(500 of them do not block a SendSms, tests/integration/test_roles_http.py), a client that
sends its headers slower than ``[http] header_timeout`` is dropped, and at most
``[http] threads`` requests per worker run the app at once; the others wait in Rust.

We drive granian's worker class directly instead of its own process manager: the
supervisor (ivr.roles.supervisor) already starts, restarts and drains every role, and one
manager of processes is easier to reason about than two stacked. The private names used are
those of granian's own ``MPServer._spawn_wsgi_worker``; the version is pinned in
constraints.txt.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["GranianOptions", "GranianWorker", "QueuedLogging", "bind_listener"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GranianOptions:
    threads: int = 16              # Python threads running the app (per worker)
    header_timeout: float = 10.0   # seconds to receive a request's headers
    keep_alive: bool = True
    backlog: int = 1024
    max_connections: int = 4096    # open connections (idle ones included) per worker
    max_buffer_size: int = 8192 + 4096 * 100


def bind_listener(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket every HTTP worker inherits (bound once, so a restarted worker
    finds it open and connections queue in the backlog meanwhile)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it (Linux): without it a response written in two
    # segments waits for the client's delayed ACK, 40 ms (Nagle; granian's own listener sets
    # it too). Measured at c=1: p99 48 ms -> see docs/benchmarks.md.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class _Enqueue(logging.handlers.QueueHandler):
    """Hands INFO/DEBUG records to the writer thread; writes WARNING and above (and any
    record with a traceback) at once, so a crash right after still leaves them on disk."""

    def __init__(self, records: queue.SimpleQueue[Any], targets: list[logging.Handler]) -> None:
        super().__init__(records)
        self.targets = targets

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: SimpleQueue.put is thread-safe, and the lock was where request
        # threads queued behind each other's write().
        if not self.filter(record):
            return False
        if record.levelno >= logging.WARNING or record.exc_info:
            for target in self.targets:
                if record.levelno >= target.level:
                    target.handle(record)
        else:
            self.emit(record)
        return True

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg = record.getMessage()     # its arguments as they are now
        record.args = None
        return record


class QueuedLogging:
    """The process's INFO lines (one access line per request) written by one thread.

    A request thread then only formats its message and puts the record in a queue: no
    handler lock shared with the other request threads, no ``write()`` syscall (to a pipe
    that journald may be slow to drain) while other threads wait for that lock. The writer
    wakes once for a burst, not once per line: after the first record it waits
    ``interval`` (20 ms) and writes everything queued by then (at c=1 a wake-up per
    request cost more than the lock it saved). Order is kept among queued records; a
    WARNING may appear before INFO lines logged just before it (their timestamps tell). On
    ``kill -9`` the lines still queued (at most ``interval``'s worth) are lost;
    :meth:`stop` writes them all.
    """

    _STOP = object()

    def __init__(self, logger: logging.Logger | None = None, interval: float = 0.02) -> None:
        self.logger = logger or logging.getLogger()
        self.interval = interval
        self.targets = list(self.logger.handlers)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self.logger.handlers = [_Enqueue(self._queue, self.targets)]
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]          # idle: blocked here, no wake-ups
            if batch[0] is not self._STOP:
                time.sleep(self.interval)        # let the burst gather
            try:
                while True:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            for record in batch:
                if record is self._STOP:
                    return
                for target in self.targets:
                    if record.levelno >= target.level:
                        target.handle(record)

    def stop(self) -> None:
        """Put the handlers back, then write what is queued and end the thread."""
        self.logger.handlers = self.targets
        self._queue.put(self._STOP)
        self._thread.join(5.0)


class GranianWorker:
    """Serves ``app`` on the inherited ``listener`` until :meth:`stop`."""

    def __init__(self, app: Any, listener: socket.socket, options: GranianOptions,
                 worker_id: int = 1) -> None:
        self.app = app
        self.listener = listener
        self.options = options
        self.worker_id = worker_id
        self._signal: Any = None
        self._busy = 0
        self._stopping = False
        self._logging: QueuedLogging | None = None
        self._idle = threading.Condition(threading.Lock())   # a plain lock: cheaper than RLock

    def _counted(self, environ: Any, start_response: Any) -> Any:
        """The app, counting requests in it so :meth:`stop` can wait for them (woken only
        while it waits: no notify per request)."""
        with self._idle:
            self._busy += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self._idle:
                self._busy -= 1
                if self._stopping and self._busy == 0:
                    self._idle.notify_all()

    def start(self) -> None:
        from granian._futures import _new_cbscheduler
        from granian._loops import loops
        from granian.http import HTTP1Settings
        from granian.wsgi import _callback_wrapper

        options = self.options
        http1 = HTTP1Settings(header_read_timeout=int(options.header_timeout * 1000),
                              keep_alive=options.keep_alive,
                              max_buffer_size=options.max_buffer_size)
        # Typed as Any: the stub shipped with granian lags the extension's signatures.
        native: Any = importlib.import_module("granian._granian")
        holder = native.SocketHolder(self.listener.fileno(), False, options.backlog)
        self._signal = native.WorkerSignal()
        loop = loops.get("auto")
        worker = native.WSGIWorker(
            self.worker_id, (None, holder), None,
            1,                      # Rust runtime threads (I/O only)
            512,                    # Rust blocking threads
            options.threads,        # Python threads that run the app
            30,                     # their idle timeout (s)
            options.max_connections,   # backpressure: connections held at once
            "1", http1, None,       # HTTP/1.1 only (no h2c upgrade surface)
            None,                   # no static files
            False, None, None, None, "tls1.3", None, [], False,   # no TLS: a proxy's job
            (None, None))           # no metrics
        scheduler = _new_cbscheduler(loop, _callback_wrapper(self._counted, {}, None),
                                     impl_asyncio=True)
        self._logging = QueuedLogging()
        self._logging.start()
        worker.serve_mtr(scheduler, loop, self._signal)
        log.info("HTTP worker %d serving on %s", self.worker_id,
                 "{}:{}".format(*self.listener.getsockname()[:2]))

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop accepting, then wait until the requests in the app have finished (at most
        ``timeout`` seconds); False if some were still running."""
        if self._signal is not None:
            self._signal.set()
        with self._idle:
            self._stopping = True
            idle = self._idle.wait_for(lambda: self._busy == 0, timeout)
        if self._logging is not None:
            self._logging.stop()
        return idle


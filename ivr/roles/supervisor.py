"""``ivr serve``: starts each role in a process of its own, restarts one that dies, and
drains them all in order on SIGTERM.

Children are forked from this process, which runs no thread and holds no database
connection when it forks (SQLite and psycopg must not cross a fork), so a child starts in
milliseconds with the code already imported. A child that dies is logged with the reason
(the signal that killed it, or its exit status; its own traceback precedes it in the log)
and started again after :data:`RESTART_DELAY`; one that keeps dying within
:data:`STABLE_AFTER` of its start is restarted with a doubling delay, up to
:data:`MAX_RESTART_DELAY`, so a broken configuration does not spin.

SIGTERM or SIGINT: the roles stop group by group in ``DRAIN_ORDER`` (HTTP workers stop
accepting and finish their requests, then the voice process hangs up its calls, then the SMS
core finishes the sends in hand and releases its claims); a child still running after its
grace period is killed. Children ignore SIGINT, so Ctrl-C in a terminal (sent to the whole
process group) still drains in order.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.roles.roles import DRAIN_ORDER, Role

__all__ = ["RoleSpec", "Supervisor", "run_role", "describe_exit"]

log = logging.getLogger(__name__)

RESTART_DELAY = 0.2
STABLE_AFTER = 10.0
MAX_RESTART_DELAY = 30.0
_POLL = 0.1


def describe_exit(code: int | None) -> str:
    """Why a child ended, from ``Process.exitcode`` (negative: the signal that killed it)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 0:
        return "exited normally"
    return f"exited with status {code}"


def _die_with(parent: int) -> None:
    """Be killed when the supervisor dies without draining us (``kill -9``, a crash): the
    service then crashed as a whole, as the one process of old did, instead of leaving
    roles running that nobody supervises. Linux ``PR_SET_PDEATHSIG``."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:      # it died before the prctl
        os._exit(1)


def run_role(build: Callable[[], Role], label: str, parent: int,
             not_mine: Sequence[socket.socket] = ()) -> None:
    """A child's whole life: build and start the role, wait for SIGTERM, stop it.
    ``not_mine``: sockets inherited through the fork that this role must not hold open (the
    HTTP listener in the SMS core would keep accepting connections nobody serves)."""
    _die_with(parent)
    for sock in not_mine:
        sock.close()
    stopping = False
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    read_end, write_end = os.pipe()

    def on_term(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        os.write(write_end, b"x")

    signal.signal(signal.SIGTERM, on_term)
    _label_log_lines(label)
    try:
        role = build()
        role.start()
    except Exception:
        log.exception("%s: could not start", label)
        sys.exit(1)
    log.info("%s: started (pid %d)", label, os.getpid())
    while not stopping:
        try:
            os.read(read_end, 1)
        except InterruptedError:
            continue
    log.info("%s: stopping", label)
    try:
        role.stop()
    except Exception:
        log.exception("%s: error while stopping", label)
        sys.exit(1)
    log.info("%s: stopped", label)


def _label_log_lines(label: str) -> None:
    """Every log line of this child names its role (``[http-2]``): they share one output."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s [{label}] %(name)s: %(message)s"))


@dataclass
class RoleSpec:
    """One child to keep running: ``build`` makes its role inside the child."""

    name: str                       # http, sms or voice (the drain group)
    label: str                      # in log lines: http-1, sms, voice
    build: Callable[[], Role]
    grace: float = 15.0             # seconds to stop after SIGTERM before SIGKILL
    not_mine: tuple[socket.socket, ...] = ()   # inherited sockets the child closes
    process: Any = None
    started_at: float = 0.0
    restart_at: float | None = None
    delay: float = RESTART_DELAY
    restarts: int = 0
    history: list[str] = field(default_factory=list)


class Supervisor:
    def __init__(self, specs: Sequence[RoleSpec]) -> None:
        self.specs = list(specs)
        self._context = multiprocessing.get_context("fork")
        self._stop = False

    def request_stop(self, *_: Any) -> None:
        self._stop = True

    def _spawn(self, spec: RoleSpec) -> None:
        spec.process = self._context.Process(target=run_role,
                                             args=(spec.build, spec.label, os.getpid(),
                                                   spec.not_mine),
                                             name=f"ivr-{spec.label}", daemon=False)
        spec.process.start()
        spec.started_at = time.monotonic()
        spec.restart_at = None
        log.info("%s: process %d", spec.label, spec.process.pid)

    def start(self) -> None:
        for spec in self.specs:
            self._spawn(spec)

    def pids(self) -> dict[str, int]:
        return {s.label: s.process.pid for s in self.specs
                if s.process is not None and s.process.is_alive()}

    def run(self, ready: Callable[[], None] | None = None) -> int:
        """Until SIGTERM/SIGINT: start the roles, keep them running; then drain."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.start()
        if ready is not None:
            ready()
        while not self._stop:
            self.tick(_POLL)
        self.drain()
        return 0

    def tick(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a child to end; note the dead, restart the due."""
        running = [s.process.sentinel for s in self.specs
                   if s.process is not None and s.restart_at is None]
        if running:
            multiprocessing.connection.wait(running, timeout)
        else:
            time.sleep(timeout)
        now = time.monotonic()
        for spec in self.specs:
            if self._stop:
                return      # draining: a child that ends now was told to (or will be)
            if spec.restart_at is None and not spec.process.is_alive():
                self._died(spec, now)
            if spec.restart_at is not None and now >= spec.restart_at:
                self._spawn(spec)

    def _died(self, spec: RoleSpec, now: float) -> None:
        spec.process.join()
        why = describe_exit(spec.process.exitcode)
        lived = now - spec.started_at
        spec.delay = RESTART_DELAY if lived >= STABLE_AFTER else \
            min(MAX_RESTART_DELAY, max(RESTART_DELAY, spec.delay * 2))
        spec.restarts += 1
        spec.history.append(why)
        spec.restart_at = now + spec.delay
        log.error("%s (pid %d) %s after %.1f s; restarting in %.1f s", spec.label,
                  spec.process.pid, why, lived, spec.delay)

    def drain(self) -> None:
        for group in DRAIN_ORDER:
            members = [s for s in self.specs if s.name == group and s.process is not None
                       and s.restart_at is None and s.process.is_alive()]
            for spec in members:
                os.kill(spec.process.pid, signal.SIGTERM)
            for spec in members:
                spec.process.join(spec.grace)
                if spec.process.is_alive():
                    log.error("%s (pid %d) did not stop within %.0f s; killing it", spec.label,
                              spec.process.pid, spec.grace)
                    spec.process.kill()
                    spec.process.join()
                elif spec.process.exitcode:
                    log.warning("%s %s while stopping", spec.label,
                                describe_exit(spec.process.exitcode))
        log.info("all roles stopped")

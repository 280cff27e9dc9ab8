"""The wake-up datagram and the call-control socket, over real unix sockets."""

from __future__ import annotations

import datetime as dt
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from ivr.errors import IvrError
from ivr.roles.control import ControlServer, RemoteCalls, decode_call, encode_call
from ivr.roles.http import bind_listener
from ivr.roles.supervisor import describe_exit
from ivr.roles.wake import (
    CALLBACK,
    MESSAGE,
    DatagramListener,
    DatagramWaker,
    decode_wake,
    encode_wake,
)
from ivr.voice.calls import CallControl, CallInfo


class Wakes:
    """Records what a listener reports, and when it reached a total."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._cond = threading.Condition()

    def __call__(self, kind: str, count: int) -> None:
        with self._cond:
            self.counts[kind] = self.counts.get(kind, 0) + count
            self._cond.notify_all()

    def wait_for(self, kind: str, total: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.counts.get(kind, 0) >= total, timeout)


@pytest.mark.parametrize(("code", "why"), [
    (-9, "killed by SIGKILL"), (-15, "killed by SIGTERM"), (0, "exited normally"),
    (1, "exited with status 1"), (None, "still running")])
def test_describe_exit(code: int | None, why: str) -> None:
    assert describe_exit(code) == why


def test_every_commit_is_followed_by_a_wake_the_core_reads(tmp_path: Path) -> None:
    path = tmp_path / "sms-wake.sock"
    path.write_text("stale socket of a dead core")
    wakes = Wakes()
    listener = DatagramListener(path, wakes)
    listener.start()
    waker = DatagramWaker(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        waker(MESSAGE)
        assert wakes.wait_for(MESSAGE, 1)
        # A burst never blocks the sender; whatever the listener had not read yet stood
        # for the calls behind it, and the next datagram counts them.
        for _ in range(500):
            waker(MESSAGE)
        time.sleep(0.2)     # the listener has read the queue empty
        waker(MESSAGE)
        assert wakes.wait_for(MESSAGE, 502)
        waker(CALLBACK)
        assert wakes.wait_for(CALLBACK, 1)
    finally:
        waker.close()
        listener.stop()
    assert not path.exists()


def test_a_wake_without_a_core_is_dropped_silently(tmp_path: Path) -> None:
    waker = DatagramWaker(tmp_path / "nobody-listens.sock")
    waker(MESSAGE)      # no exception: the core finds the message when it polls
    waker.close()


class Dialled:
    """CallControl's originate seam: records the numbers, refuses "bad"."""

    def __init__(self) -> None:
        self.numbers: list[tuple[str, str, str]] = []

    def __call__(self, number: str, script: str, caller_id: str) -> str:
        if number == "bad":
            raise IvrError("set [sip] trunk to dial numbers")
        self.numbers.append((number, script, caller_id))
        return "call-1@ivr"


@pytest.fixture
def control(tmp_path: Path) -> tuple[ControlServer, RemoteCalls, Dialled]:
    dialled = Dialled()
    server = ControlServer(tmp_path / "voice-control.sock", CallControl(originate=dialled))
    server.start()
    yield server, RemoteCalls(server.path, timeout=5), dialled
    server.stop()
    assert not server.path.exists()


def test_call_commands_reach_the_voice_process(
        control: tuple[ControlServer, RemoteCalls, Dialled]) -> None:
    server, calls, dialled = control
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert calls.list_calls() == []
    assert calls.originate("+3612", "http://x/s.xml", "4000") == "call-1@ivr"
    assert dialled.numbers == [("+3612", "http://x/s.xml", "4000")]
    with pytest.raises(IvrError, match="trunk"):
        calls.originate("bad", "s.xml")
    for command, args in (("hangup", ()), ("send_dtmf", ("12",)), ("speak", ("hi",)),
                          ("play", ("a.wav",)), ("hold", ()), ("unhold", ()),
                          ("blind_transfer", ("2000",)), ("forward", ("2000",)),
                          ("attended_transfer", ("2000",)), ("send_message", ("hi",)),
                          ("receive_message", (0.5,)), ("record_to", (5.0, ""))):
        with pytest.raises(KeyError):      # each reaches the voice process: no such call
            getattr(calls, command)("no-such-call", *args)


def test_unknown_or_malformed_commands_are_refused(
        control: tuple[ControlServer, RemoteCalls, Dialled]) -> None:
    server = control[0]
    assert server.handle({"op": "__init__", "args": []})["error"] == "refused"
    assert server.handle({"op": "hangup", "args": [1]})["error"] == "refused"
    assert server.handle({"op": "hangup", "args": []})["error"] == "refused"
    assert server.handle({"op": "receive_message", "args": ["c", "soon"]})["error"] == "refused"
    assert server.handle({"op": "record_to", "args": ["c", True, ""]})["error"] == "refused"


def test_with_the_voice_process_down_its_calls_are_gone(tmp_path: Path) -> None:
    calls = RemoteCalls(tmp_path / "voice-control.sock", timeout=1)
    assert calls.list_calls() == []
    with pytest.raises(KeyError):
        calls.hangup("call-1")
    with pytest.raises(IvrError, match="not reachable"):
        calls.originate("+3612", "s.xml")


def test_call_info_round_trip() -> None:
    info = CallInfo("c1", "InCall", "127.0.0.1:5060", "4000", "100",
                    dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC), 1.5, 12.25)
    assert decode_call(encode_call(info)) == info


def test_the_shared_listener_disables_nagle() -> None:
    """Accepted connections inherit TCP_NODELAY from the listener; without it a response in
    two segments waited 40 ms for the client's delayed ACK (p99 48 ms at one client)."""
    listener = bind_listener("127.0.0.1", 0, 16)
    try:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        accepted.close()
        client.close()
    finally:
        listener.close()


def test_a_wake_socket_that_cannot_be_bound_leaves_the_core_polling(tmp_path: Path) -> None:
    path = tmp_path / ("d" * 120) / "sms-wake.sock"      # past the unix address limit
    listener = DatagramListener(path, Wakes())
    listener.start()          # logged, not raised: correctness never depends on the wake
    listener.stop()


def test_call_info_carries_its_script_across_the_socket() -> None:
    import datetime as dt

    from ivr.roles.control import decode_call, encode_call
    from ivr.voice.calls import CallInfo

    info = CallInfo("c1", "InCall", "127.0.0.1:5062", "+3611", "ivr",
                    dt.datetime(2026, 11, 29, tzinfo=dt.UTC), 1.0, 2.0,
                    script="http://app.example/menu.xml")
    assert decode_call(encode_call(info)) == info


def test_no_datagram_while_one_is_unread_and_none_lost(tmp_path: Path) -> None:
    """While the core has not read a wake-up, it will look at the store after reading it,
    so it will see every commit made meanwhile: those send nothing. Once it has read, the
    next commit sends again, with the count of the calls it stands for."""
    path = tmp_path / "core.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as core:
        core.bind(str(path))
        core.settimeout(0.2)
        waker = DatagramWaker(path)
        try:
            for _ in range(300):
                waker(MESSAGE)
            waker(CALLBACK)        # its own socket: an unread "m" does not stand for it
            received = [decode_wake(core.recv(16)), decode_wake(core.recv(16))]
            assert sorted(received) == [(CALLBACK, 1), (MESSAGE, 1)]
            with pytest.raises(TimeoutError):
                core.recv(16)      # the other 299 sent nothing
            waker(MESSAGE)         # read everything: this one is sent, counting the 299
            assert decode_wake(core.recv(16)) == (MESSAGE, 300)
            waker(MESSAGE)
            assert decode_wake(core.recv(16)) == (MESSAGE, 1)
        finally:
            waker.close()


@pytest.mark.parametrize(("payload", "decoded"), [
    (b"m", (MESSAGE, 1)), (b"m17", (MESSAGE, 17)), (b"c", (CALLBACK, 1)),
    (b"mx", (MESSAGE, 1)), (b"", ("", 1))])
def test_wake_payloads(payload: bytes, decoded: tuple[str, int]) -> None:
    assert decode_wake(payload) == decoded
    if decoded[0]:
        assert decode_wake(encode_wake(*decoded)) == decoded

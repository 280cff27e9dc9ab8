"""Per-receiver failure counting for callbacks (pure state, a fake clock)."""

from __future__ import annotations

from ivr.sms.receivers import ReceiverHealth, receiver_of


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_receiver_is_scheme_host_and_port() -> None:
    assert receiver_of("http://App.example/dlr?id=1") == "http://app.example:80"
    assert receiver_of("https://app.example:8443/x") == "https://app.example:8443"
    assert receiver_of("http://[::1]:9/x") == "http://::1:9"


def test_down_after_threshold_failures_with_doubling_periods() -> None:
    clock = Clock()
    health = ReceiverHealth(threshold=3, base=2, maximum=10, clock=clock)
    r = "http://a:80"
    assert [health.failed(r) for _ in range(2)] == [0.0, 0.0]
    assert health.wait_for(r) == 0.0                     # two failures: still tried
    assert health.failed(r) == 2
    assert health.wait_for(r) == 2
    clock.t += 2
    assert health.wait_for(r) == 0.0                     # the probe
    assert health.wait_for(r) == 2                       # the others look again shortly
    assert health.failed(r) == 4
    for expected in (8, 10, 10):                         # capped at the maximum
        clock.t += 100
        assert health.wait_for(r) == 0.0
        assert health.failed(r) == expected


def test_one_success_makes_it_healthy() -> None:
    clock = Clock()
    health = ReceiverHealth(threshold=2, clock=clock)
    r = "http://a:80"
    health.failed(r)
    assert health.succeeded(r) is False                  # was not down
    health.failed(r)
    health.failed(r)
    clock.t += 10
    assert health.wait_for(r) == 0.0
    assert health.succeeded(r) is True
    assert health.wait_for(r) == 0.0
    assert health.failed(r) == 0.0                       # counting starts again


def test_a_lost_probe_does_not_keep_the_receiver_down_for_ever() -> None:
    clock = Clock()
    health = ReceiverHealth(threshold=1, base=1, clock=clock, probe_timeout=5)
    health.failed("r")
    clock.t += 1
    assert health.wait_for("r") == 0.0                   # probe out, never reported
    clock.t += 5
    assert health.wait_for("r") == 0.0                   # another probe may go


def test_receivers_are_independent() -> None:
    health = ReceiverHealth(threshold=1, clock=Clock())
    health.failed("a")
    assert health.wait_for("a") > 0 and health.wait_for("b") == 0.0

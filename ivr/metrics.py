"""Prometheus metrics, in ``prometheus_client``'s multiprocess mode.

Every process of one installation (HTTP workers, the sms and voice roles) writes its samples
to memory-mapped files in one directory, ``<data_dir>/metrics`` (``PROMETHEUS_MULTIPROC_DIR``),
and ``/metrics`` in any HTTP worker adds them all up. The library decides between in-memory
and file-backed values when it is *imported*, so nothing here imports it before
:func:`setup` has set the directory; until then every recording function is a no-op (unit
tests that build a pipeline alone record nothing and leave no files behind).

Call sites stay one line at the point where the event happens (``metrics.sms_status(...)``).
Gauges that describe the store (queue depth, callbacks pending) are read from the store when
scraped, so they are right whichever process changed it.

The first process of an installation (``ivr serve``, or a supervisor that calls
:func:`setup` before starting its roles) clears the files earlier runs left; counters of a
process that ends stay counted for the life of the installation. Before each scrape the
live-mode gauges of dead processes are dropped, so ``ivr_role_up`` and ``ivr_calls_active``
count only processes that still run. Both use the process ids in the file names, so they
hold for processes on this machine.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["setup", "enabled", "render", "roles_up", "role_up", "call_started",
           "call_ended", "call_answered", "call_result", "rtp_gap", "sms_status", "sms_final", "callback_result",
           "http_request", "sms_started", "transport_in_flight", "transport_health", "samples", "local_roles",
           "store_collector", "ENV"]

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")
_lock = threading.Lock()
_metrics: _Metrics | None = None
_local_roles: set[str] = set()

# Buckets: answer latency is INVITE received -> 200 OK sent (ms to a few s); the RTP gap is
# the media clock's interval between two rounds of packets (20 ms nominal, ITU-T G.114's
# 150 ms one-way budget is the scale beyond which callers hear it); submit-to-delivered spans
# a loopback's milliseconds to an SMSC's minutes.
_ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_RTP_BUCKETS = (0.015, 0.019, 0.021, 0.025, 0.03, 0.04, 0.06, 0.1, 0.15, 0.3)
_DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class _Metrics:
    """The metric objects of this process (created once, after the directory is set)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.role_up = Gauge("ivr_role_up", "1 for each running role (http, sms, voice)",
                             ["role"], multiprocess_mode="livemax")
        self.calls_active = Gauge("ivr_calls_active", "Calls in progress",
                                  multiprocess_mode="livesum")
        self.calls = Counter("ivr_calls", "Calls that ended, by result", ["result"])
        self.answer = Histogram("ivr_call_answer_seconds",
                                "INVITE received to the call answered",
                                buckets=_ANSWER_BUCKETS)
        self.rtp_gap = Histogram("ivr_rtp_gap_seconds",
                                 "Interval between two rounds of RTP packets (20 ms nominal)",
                                 buckets=_RTP_BUCKETS)
        self.sms = Counter("ivr_sms", "SMS status changes, by status and transport",
                           ["status", "transport"])
        self.delivery = Histogram("ivr_sms_delivery_seconds",
                                  "Submitted (accepted) to delivered, per message",
                                  ["transport"], buckets=_DELIVERY_BUCKETS)
        self.callbacks = Counter("ivr_callbacks", "Callback attempts, by result "
                                 "(delivered, retry, failed, refused)", ["result"])
        self.in_flight = Gauge("ivr_transport_in_flight", "Sends in progress (window in use)",
                               ["transport"], multiprocess_mode="livesum")
        self.healthy = Gauge("ivr_transport_healthy", "1 when the transport can send now "
                             "(bound, registered); refreshed by housekeeping", ["transport"],
                             multiprocess_mode="livemax")
        self.http = Counter("ivr_http_requests", "HTTP requests, by dialect and status code",
                            ["dialect", "code"])
        self.signal = Gauge("ivr_transport_signal_dbm", "A modem's radio signal (AT+CSQ), "
                            "refreshed by housekeeping", ["transport"],
                            multiprocess_mode="livemax")
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def child(self, name: str, *labels: str) -> Any:
        """``getattr(self, name).labels(*labels)``, remembered: the per-request counters
        (``sms``, ``http``) skip prometheus_client's label validation and lock each time."""
        key = (name, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = getattr(self, name).labels(*labels)
        return found


def setup(data_dir: str | os.PathLike[str]) -> Path:
    """Make this process record metrics into the installation's shared directory.

    Every role of an installation shares ``data_dir``, so they meet in
    ``<data_dir>/metrics``; ``PROMETHEUS_MULTIPROC_DIR`` is set to it because the library
    reads it from the environment. The first call in a process wins; later ones return the
    directory already in use.
    """
    global _metrics
    with _lock:
        if _metrics is not None:
            return Path(os.environ[ENV])
        directory = Path(data_dir).resolve() / "metrics"
        directory.mkdir(parents=True, exist_ok=True)
        if _claim(directory):
            _remove_dead(directory, gauges_only=False)
        os.environ[ENV] = str(directory)
        from prometheus_client import values

        if getattr(values.ValueClass, "__name__", "") != "MmapedValue":
            log.warning("prometheus_client was imported before ivr.metrics.setup(): this "
                        "process's metrics stay in its memory and /metrics will miss them")
        _metrics = _Metrics()
        log.info("metrics recorded in %s", directory)
        return directory


def _claim(directory: Path) -> bool:
    """Become the directory's owner if its owner (``.owner`` holds its pid) is gone: the
    first process of an installation clears what earlier runs left. Processes started while
    the owner lives (roles, ``ivr send-sms``) keep every file, so no sum goes down while
    Prometheus watches (it would read the drop as a counter reset)."""
    marker = directory / ".owner"
    try:
        owner = int(marker.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        owner = 0
    if owner and _pid_alive(owner):
        return False
    marker.write_text(str(os.getpid()))
    return True


def enabled() -> bool:
    return _metrics is not None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # exists, another user's
        return True
    return True


def _dead_files(directory: Path) -> Iterator[tuple[Path, int]]:
    for path in directory.glob("*.db"):
        match = _FILE.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            yield path, int(match.group(1))


def _remove_dead(directory: Path, *, gauges_only: bool) -> None:
    from_gauges = ("gauge_live",)
    for path, pid in _dead_files(directory):
        if gauges_only and not path.name.startswith(from_gauges):
            continue
        try:
            path.unlink()
        except FileNotFoundError:   # another process tidied it first
            pass
        log.debug("metrics of ended process %d removed (%s)", pid, path.name)


def _record(action: Callable[[_Metrics], None]) -> None:
    metrics = _metrics
    if metrics is None:
        return
    try:
        action(metrics)
    except Exception:  # a metric must never break a call or a message
        log.exception("recording a metric failed")


# -- recording (one line at each call site) ---------------------------------------------
def role_up(role: str) -> None:
    _local_roles.add(role)
    _record(lambda m: m.role_up.labels(role).set(1))


def local_roles() -> frozenset[str]:
    """Roles running in this very process (their objects can be asked directly)."""
    return frozenset(_local_roles)


def call_started() -> None:
    _record(lambda m: m.calls_active.inc())


def call_result(answered: bool, reason: str) -> str:
    """A bounded label for how a call ended, from its free-text end reason."""
    if answered:
        return "answered"
    text = reason.lower()
    for word, result in (("cancel", "cancelled"), ("busy", "busy"), ("486", "busy"),
                         ("decline", "rejected"), ("603", "rejected"), ("reject", "rejected"),
                         ("timeout", "no_answer"), ("no answer", "no_answer"),
                         ("408", "no_answer"), ("480", "no_answer"), ("487", "cancelled")):
        if word in text:
            return result
    return "failed"


def call_ended(leg: Any) -> None:
    """A call left the active list: ``leg`` has ``created``, ``answered_at``, ``end_reason``."""
    def act(m: _Metrics) -> None:
        m.calls_active.dec()
        answered = bool(leg.answered_at)
        m.calls.labels(call_result(answered, str(leg.end_reason))).inc()
    _record(act)


def call_answered(seconds: float) -> None:
    """We answered a caller ``seconds`` after its INVITE arrived."""
    _record(lambda m: m.answer.observe(max(0.0, seconds)))


def rtp_gap(seconds: float) -> None:
    _record(lambda m: m.rtp_gap.observe(seconds))


def sms_status(status: str, transport: str) -> None:
    _record(lambda m: m.child("sms", status, transport or "-").inc())


def sms_final(message: Any) -> None:
    """A message reached a final status through a delivery report (``Message``)."""
    def act(m: _Metrics) -> None:
        status = getattr(message.status, "value", str(message.status))
        m.sms.labels(status, message.transport or "-").inc()
        if status == "delivered" and message.created_at and message.delivered_at:
            m.delivery.labels(message.transport or "-").observe(
                max(0.0, (message.delivered_at - message.created_at).total_seconds()))
    _record(act)


def transport_in_flight(name: str, delta: int) -> None:
    _record(lambda m: m.in_flight.labels(name).inc(delta))


def sms_started(transports: Mapping[str, Any]) -> None:
    """The sms role runs in this process; its transports' first health report."""
    role_up("sms")
    transport_health(transports)


def transport_health(transports: Mapping[str, Any]) -> None:
    def act(m: _Metrics) -> None:
        for name, transport in transports.items():
            m.healthy.labels(name).set(1 if transport.healthy() else 0)
            dbm = getattr(transport, "signal_dbm", None)   # modems only
            if dbm is not None:
                m.signal.labels(name).set(dbm)
    _record(act)


def callback_result(result: str) -> None:
    _record(lambda m: m.callbacks.labels(result).inc())


def http_request(dialect: str, code: int) -> None:
    _record(lambda m: m.child("http", dialect or "-", str(code)).inc())


# -- reading ----------------------------------------------------------------------------
def _registry(extra: Any = None) -> Any:
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    directory = os.environ.get(ENV, "")
    Path(directory).mkdir(parents=True, exist_ok=True)   # removed under us: read it empty
    _remove_dead(Path(directory), gauges_only=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    if extra is not None:
        registry.register(extra)
    return registry


def render(extra: Any = None) -> tuple[bytes, str]:
    """The exposition text of every process, plus ``extra`` (a collector); (body, type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if _metrics is None:
        return b"# metrics are not set up in this process\n", CONTENT_TYPE_LATEST
    return generate_latest(_registry(extra)), CONTENT_TYPE_LATEST


def samples(name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called ``name``, summed over processes (a counter's
    samples end in ``_total``)."""
    if _metrics is None:
        return []
    return [(dict(s.labels), float(s.value)) for family in _registry().collect()
            for s in family.samples if s.name == name]


def roles_up() -> list[str]:
    """Roles some live process on this machine has reported as running."""
    if _metrics is None:
        return []
    return sorted({labels["role"] for labels, value in samples("ivr_role_up") if value >= 1})


def store_collector(depths: Callable[[], dict[str, int]]) -> Any:
    """A collector of gauges read from the store at scrape time (name -> value)."""
    from prometheus_client.core import GaugeMetricFamily

    help_text = {"ivr_store_queued_messages": "Outbound messages waiting to be sent",
                 "ivr_store_sending_messages": "Messages claimed by a worker right now",
                 "ivr_callbacks_pending": "Callbacks waiting to be delivered"}

    class _StoreCollector:
        def collect(self) -> Iterator[Any]:
            for name, value in depths().items():
                yield GaugeMetricFamily(name, help_text.get(name, name), value=value)

    return _StoreCollector()

"""One media clock for every call: pyVoIP's RTP client with shared pacing.

pyVoIP 1.6.8 gives each call two threads: a transmitter that sleeps ~20 ms between packets
and a receiver that busy-polls a non-blocking socket every 10 ms. With a hundred calls that is
two hundred threads waking under one GIL, and packets drift (reference notes §3: 24 ms mean
pacing at 100 calls). :class:`PacedRTPClient` keeps pyVoIP's packet format, buffers, µ-law
encoding and RFC 2833 parsing, but is sent by one :class:`MediaClock` thread for all calls on
an absolute 20 ms schedule, and receives with a blocking socket instead of polling.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from pyVoIP.RTP import RTPClient, RTPParseError

from ivr import metrics

__all__ = ["MediaClock", "PacedRTPClient"]

log = logging.getLogger(__name__)
PTIME = 0.020


class MediaClock:
    """Sends one packet for every registered client every 20 ms."""

    def __init__(self) -> None:
        self._clients: set[PacedRTPClient] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, client: PacedRTPClient) -> None:
        with self._lock:
            self._clients.add(client)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="media-clock",
                                                daemon=True)
                self._thread.start()

    def remove(self, client: PacedRTPClient) -> None:
        with self._lock:
            self._clients.discard(client)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2)

    def _run(self) -> None:
        tick = last = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                clients = list(self._clients)
            for client in clients:
                self._send_one(client)
            sent, last = last, time.monotonic()
            if clients:   # interval between two rounds of packets (20 ms when on time)
                metrics.rtp_gap(last - sent)
            tick += PTIME
            delay = tick - time.monotonic()
            if delay < -0.2:  # far behind (machine stalled): resynchronise, do not burst
                tick = time.monotonic()
            elif delay > 0:
                time.sleep(delay)


    def _send_one(self, client: PacedRTPClient) -> None:
        """One call's packet. Whatever one stream raises ends that stream only: the clock
        serves every call, so an exception escaping here would silence them all."""
        try:
            client.send_one()
        except OSError as exc:  # a socket closed under us by a hang-up
            log.debug("RTP send to %s:%s failed: %s", client.outIP, client.outPort, exc)
        except Exception:
            log.exception("RTP stream to %s:%s failed; dropping that stream only",
                          client.outIP, client.outPort)
            self.remove(client)


class PacedRTPClient(RTPClient):
    def __init__(self, *args: Any, clock: MediaClock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def start(self) -> None:
        # Same socket set-up as RTPClient.start, but a blocking receive and no transmitter.
        self.sin = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sout = self.sin
        self.sin.bind((self.inIP, self.inPort))
        self.sin.settimeout(0.2)
        threading.Thread(target=self.recv, name="rtp-recv", daemon=True).start()
        self._clock.add(self)

    def stop(self) -> None:
        self._clock.remove(self)
        super().stop()

    def recv(self) -> None:
        while self.NSD:
            try:
                packet = self.sin.recv(8192)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.parse_packet(packet)
            except RTPParseError as exc:
                log.debug("bad RTP packet: %s", exc)

    def send_one(self) -> None:
        """One 20 ms packet: the body of RTPClient.trans without its sleep."""
        if not self.NSD:
            return
        payload = self.encode_packet(self.pmout.read())
        self.outSequence = self.outSequence % 65536
        self.outTimestamp = self.outTimestamp % 4294967296
        packet = (b"\x80" + bytes([int(self.preference)]) +
                  self.outSequence.to_bytes(2, "big") + self.outTimestamp.to_bytes(4, "big") +
                  self.outSSRC.to_bytes(4, "big") + payload)
        self.sout.sendto(packet, (self.outIP, self.outPort))
        self.outSequence += 1
        self.outTimestamp += len(payload)

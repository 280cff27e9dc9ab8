"""A GSM modem simulator on a pseudo-terminal (TS 27.007 / 27.005 AT subset).

Run by hand::

    python tools/modem_sim.py [--link /tmp/ttySIM] [--pin 1234] [--report-delay 1]

prints the pty path; point ``modem:///tmp/ttySIM`` or gammu (``device = /tmp/ttySIM``,
``connection = at``) at it. Tests import :class:`ModemSim` (and the misbehaving
subclasses) and drive it directly.

It answers the commands a driver or gammu needs (identification, PIN, registration,
message format, CNMI, CSCA, CPMS, CMGS in PDU and text mode with the ``> `` prompt, CMGR,
CMGD, CMGL), assigns TP-MR 0..255 with wrap-around, sends ``+CDS`` status reports for
messages that asked for one, and stores injected inbound messages (``+CMTI``).
Misbehaviour is one subclass each: :class:`PowerUpModem` (+CMS ERROR: 330 while "starting"),
:class:`RejectingModem` (a number pattern refused), :class:`HungModem` (stops answering),
plus :meth:`ModemSim.disappear` / :meth:`ModemSim.reappear` for an unplugged USB stick.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import select
import signal
import sys
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.sms import pdu  # noqa: E402
from ivr.sms.encoding import split_message  # noqa: E402

CTRL_Z, ESC = b"\x1a", b"\x1b"


@dataclass
class SentPart:
    """One CMGS the simulator accepted."""

    mr: int
    recipient: str
    text: str
    mode: str                       # "pdu" | "text"
    pdu_hex: str = ""
    concat: pdu.Concat | None = None
    status_report: bool = False
    dcs: int = 0


@dataclass
class Stored:
    index: int
    pdu_hex: str
    sender: str
    text: str
    timestamp: dt.datetime
    status: str = "REC UNREAD"


@dataclass
class Counters:
    commands: list[str] = field(default_factory=list)
    inits: int = 0                  # how many times ATZ was received


class ModemSim:
    """The well-behaved modem. Subclasses override :meth:`cmgs_error` / :meth:`answering`."""

    manufacturer = "IVR"
    model = "Simulated GSM Modem"
    revision = "1.0"
    imei = "356938035643809"
    imsi = "001010123456789"

    def __init__(self, *, link: str | None = None, pin: str | None = None,
                 register_delay: float = 0.0, report_delay: float = 0.2,
                 report_status: int = 0x00, first_mr: int = 0,
                 smsc: str = "+447700900000") -> None:
        self.link = link
        self.pin = pin
        self.pin_ok = pin is None
        self.register_delay = register_delay
        self.report_delay = report_delay
        self.report_status = report_status
        self.smsc = smsc
        self.next_mr = first_mr & 0xFF
        self.sent: list[SentPart] = []
        self.reports_sent: list[str] = []
        self.storage: dict[int, Stored] = {}
        self.counters = Counters()
        self.echo = True
        self.cmee = 0
        self.cmgf = 0
        self.cnmi = [0, 0, 0, 0, 0]
        self.lock = threading.RLock()
        self.powered_at = time.monotonic()
        self._master = -1
        self._slave = -1
        self.path = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self._buffer = b""
        self._prompt: str | None = None      # pending CMGS argument while in "> " mode

    # ------------------------------------------------------------ lifecycle
    def start(self) -> ModemSim:
        self._open_pty()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modem-sim", daemon=True)
        self._thread.start()
        return self

    def _open_pty(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)        # no echo/CRLF translation by the line discipline
        self.path = os.ttyname(self._slave)
        if self.link:
            tmp = self.link + ".tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        self.powered_at = time.monotonic()
        self._buffer = b""
        self._prompt = None

    @property
    def device(self) -> str:
        """The path drivers should open (the stable link if there is one)."""
        return self.link or self.path

    def stop(self) -> None:
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_pty()
        if self.link and os.path.lexists(self.link):
            os.unlink(self.link)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def disappear(self) -> None:
        """The USB stick is pulled: the device node goes away, open ports see a hangup."""
        with self.lock:
            self._close_pty()
            if self.link and os.path.lexists(self.link):
                os.unlink(self.link)

    def reappear(self) -> None:
        """Plugged back in: a fresh (power-cycled) modem behind the same link."""
        with self.lock:
            self.echo, self.cmgf, self.cmee = True, 0, 0
            self.pin_ok = self.pin is None
            self._open_pty()

    # ------------------------------------------------------------ I/O loop
    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._master
            if fd < 0:
                time.sleep(0.05)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(fd, 4096)
            except OSError:
                time.sleep(0.05)
                continue
            with self.lock:
                if fd == self._master:
                    self._receive(data)

    def _write(self, data: bytes) -> None:
        if self._master >= 0:
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def emit(self, line: str) -> None:
        """Send one result line, framed as V.250 verbose results are: CR LF text CR LF."""
        with self.lock:
            self._write(b"\r\n" + line.encode("latin-1") + b"\r\n")

    def _receive(self, data: bytes) -> None:
        if self.echo and self._prompt is None:
            self._write(data)
        self._buffer += data
        while True:
            if self._prompt is not None:
                end = min((i for i in (self._buffer.find(CTRL_Z), self._buffer.find(ESC))
                           if i >= 0), default=-1)
                if end < 0:
                    return
                body, term = self._buffer[:end], self._buffer[end:end + 1]
                self._buffer = self._buffer[end + 1:]
                argument, self._prompt = self._prompt, None
                if term == ESC:                 # TS 27.005 §3.5.1: ESC cancels
                    self._reply(["OK"])
                else:
                    self._finish_cmgs(argument, body.decode("latin-1").strip())
                continue
            cut = self._buffer.find(b"\r")
            if cut < 0:
                return
            line = self._buffer[:cut].decode("latin-1").strip()
            self._buffer = self._buffer[cut + 1:].lstrip(b"\n")
            if line:
                self.counters.commands.append(line)
                if self.answering(line):
                    self._command(line)

    def answering(self, line: str) -> bool:
        """False makes the modem ignore a command (see :class:`HungModem`)."""
        return True

    def _reply(self, lines: list[str]) -> None:
        self._write(b"".join(b"\r\n" + ln.encode("latin-1") + b"\r\n" for ln in lines))

    def _error(self, kind: str = "", code: int = 0) -> list[str]:
        if kind and self.cmee:
            return [f"+{kind} ERROR: {code}"]
        return ["ERROR"]

    # ------------------------------------------------------------ commands
    def _command(self, line: str) -> None:
        upper = line.upper()
        if not upper.startswith("AT"):
            self._reply(["ERROR"])
            return
        body = line[2:]
        ubody = body.upper()
        handler = self._lookup(ubody)
        if handler is None:
            self._reply(["ERROR"])
            return
        result = handler(body)
        if result is not None:
            self._reply(result)

    def _lookup(self, ubody: str):  # type: ignore[no-untyped-def]
        table = [
            ("+CMGS", self._cmd_cmgs), ("+CMGR", self._cmd_cmgr), ("+CMGD", self._cmd_cmgd),
            ("+CMGL", self._cmd_cmgl), ("+CMGF", self._cmd_cmgf), ("+CNMI", self._cmd_cnmi),
            ("+CMEE", self._cmd_cmee), ("+CPIN", self._cmd_cpin), ("+CREG", self._cmd_creg),
            ("+CSCA", self._cmd_csca), ("+CSCS", self._cmd_cscs), ("+CPMS", self._cmd_cpms),
            ("+CSMP", self._ok), ("+CSMS", self._cmd_csms), ("+CNMA", self._ok),
            ("+CGMI", lambda b: self._info(self.manufacturer)),
            ("+GMI", lambda b: self._info(self.manufacturer)),
            ("+CGMM", lambda b: self._info(self.model)), ("+GMM", lambda b: self._info(self.model)),
            ("+CGMR", lambda b: self._info(self.revision)),
            ("+GMR", lambda b: self._info(self.revision)),
            ("+CGSN", lambda b: self._info(self.imei)), ("+GSN", lambda b: self._info(self.imei)),
            ("+CIMI", lambda b: self._info(self.imsi)),
            ("+CSQ", lambda b: ["+CSQ: 20,99", "OK"]),
            ("+COPS", lambda b: ['+COPS: 0,0,"IVR SIM"', "OK"]),
            ("+CFUN", lambda b: ["+CFUN: 1", "OK"] if b.endswith("?") else ["OK"]),
            ("+CLIP", self._ok), ("+CGREG", self._cmd_creg), ("+CEREG", self._cmd_creg),
            ("+CMMS", self._ok), ("+CHUP", self._ok),
            ("I", lambda b: self._info(f"{self.manufacturer} {self.model}")),
            ("Z", self._cmd_reset), ("E0", self._cmd_echo), ("E1", self._cmd_echo),
            ("&F", self._cmd_reset), ("Q0", self._ok), ("V1", self._ok), ("&C", self._ok),
            ("&D", self._ok), ("S", self._ok),
        ]
        if ubody == "":
            return self._ok
        for prefix, handler in table:
            if ubody.startswith(prefix):
                return handler
        return None

    def _ok(self, body: str) -> list[str]:
        return ["OK"]

    def _info(self, text: str) -> list[str]:
        return [text, "OK"]

    def _cmd_reset(self, body: str) -> list[str]:
        self.counters.inits += 1
        self.echo, self.cmgf, self.cmee = True, 0, 0
        return ["OK"]

    def _cmd_echo(self, body: str) -> list[str]:
        self.echo = body.upper().endswith("1")
        return ["OK"]

    def _cmd_cmee(self, body: str) -> list[str]:
        if body.endswith("?"):
            return [f"+CMEE: {self.cmee}", "OK"]
        if body.endswith("=?"):
            return ["+CMEE: (0-2)", "OK"]
        self.cmee = int(body.split("=")[1] or 0)
        return ["OK"]

    def _cmd_cpin(self, body: str) -> list[str]:
        if body.endswith("?"):
            return ["+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN", "OK"]
        given = body.split("=", 1)[1].strip().strip('"')
        if given == self.pin:
            self.pin_ok = True
            return ["OK"]
        return self._error("CME", 16)       # incorrect password

    def _registered(self) -> bool:
        return self.pin_ok and time.monotonic() - self.powered_at >= self.register_delay

    def _cmd_creg(self, body: str) -> list[str]:
        name = body[:body.index("?") if "?" in body else len(body)].split("=")[0].upper()
        if body.endswith("=?"):
            return [f"{name}: (0-2)", "OK"]
        if body.endswith("?"):
            return [f"{name}: 0,{1 if self._registered() else 2}", "OK"]
        return ["OK"]

    def _cmd_cmgf(self, body: str) -> list[str]:
        if body.endswith("=?"):
            return ["+CMGF: (0,1)", "OK"]
        if body.endswith("?"):
            return [f"+CMGF: {self.cmgf}", "OK"]
        self.cmgf = int(body.split("=")[1])
        return ["OK"]

    def _cmd_cnmi(self, body: str) -> list[str]:
        if body.endswith("=?"):
            return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)", "OK"]
        if body.endswith("?"):
            return ["+CNMI: " + ",".join(map(str, self.cnmi)), "OK"]
        values = [int(v) if v else 0 for v in body.split("=")[1].split(",")]
        self.cnmi = (values + [0] * 5)[:5]
        return ["OK"]

    def _cmd_csca(self, body: str) -> list[str]:
        if body.endswith("?"):
            return [f'+CSCA: "{self.smsc}",145', "OK"]
        self.smsc = body.split("=")[1].split(",")[0].strip('"')
        return ["OK"]

    def _cmd_cscs(self, body: str) -> list[str]:
        if body.endswith("=?"):
            return ['+CSCS: ("GSM","IRA","UCS2")', "OK"]
        if body.endswith("?"):
            return ['+CSCS: "IRA"', "OK"]
        return ["OK"]

    def _cmd_csms(self, body: str) -> list[str]:
        if body.endswith("=?"):
            return ["+CSMS: (0,1)", "OK"]
        return ["+CSMS: 0,1,1,1", "OK"]

    def _cmd_cpms(self, body: str) -> list[str]:
        used = len(self.storage)
        if body.endswith("=?"):
            return ['+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")', "OK"]
        if body.endswith("?"):
            return [f'+CPMS: "SM",{used},30,"SM",{used},30,"SM",{used},30', "OK"]
        return [f"+CPMS: {used},30,{used},30,{used},30", "OK"]

    # ------------------------------------------------------------ sending
    def cmgs_error(self, recipient: str) -> list[str] | None:
        """A failure for this submit, or None to accept it (subclasses override)."""
        return None

    def _cmd_cmgs(self, body: str) -> list[str] | None:
        if "=" not in body:
            return ["ERROR"]
        self._prompt = body.split("=", 1)[1].strip()
        self._write(b"\r\n> ")
        return None

    def _finish_cmgs(self, argument: str, payload: str) -> None:
        if self.cmgf == 0:
            try:
                length = int(argument)
                submit = pdu.decode_submit(payload)
            except (ValueError, pdu.PduError):
                self._reply(self._error("CMS", 304))
                return
            smsc_octets = bytes.fromhex(payload[:2])[0] + 1
            if len(payload) // 2 - smsc_octets != length:   # 27.005: length excludes SMSC
                self._reply(self._error("CMS", 304))
                return
            part = SentPart(0, submit.recipient, submit.text, "pdu", payload.upper(),
                            submit.concat, submit.status_report, submit.dcs)
        else:
            fields = [f.strip().strip('"') for f in argument.split(",")]
            part = SentPart(0, fields[0], payload, "text", status_report=True)
        if not self._registered():
            self._reply(self._error("CMS", 331))
            return
        failure = self.cmgs_error(part.recipient)
        if failure is not None:
            self._reply(failure)
            return
        part.mr = self.next_mr
        self.next_mr = (self.next_mr + 1) % 256          # TP-MR wraps (TS 23.040 §9.2.3.6)
        self.sent.append(part)
        self._reply([f"+CMGS: {part.mr}", "OK"])
        if part.status_report and self.cnmi[3] == 1:
            self._schedule_report(part)

    def _schedule_report(self, part: SentPart) -> None:
        def fire() -> None:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            with self.lock:
                if self.cmgf == 0:
                    report = pdu.encode_status_report(part.mr, part.recipient, now, now,
                                                      self.report_status)
                    self.reports_sent.append(report)
                    self._write(f"\r\n+CDS: {len(report) // 2 - 1}\r\n{report}\r\n"
                                .encode("ascii"))
                else:
                    stamp = now.strftime('"%y/%m/%d,%H:%M:%S+00"')
                    line = (f'+CDS: 6,{part.mr},"{part.recipient}",145,{stamp},{stamp},'
                            f"{self.report_status}")
                    self.reports_sent.append(line)
                    self.emit(line)

        timer = threading.Timer(self.report_delay, fire)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    # ------------------------------------------------------------ inbound
    def inject_sms(self, sender: str, text: str, *, concat_ref: int = 7) -> list[int]:
        """A message arrives from the network: store each part and announce it (CNMI mt).

        Returns the storage indexes (empty when delivered directly as +CMT)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        segmented = split_message(text)
        indexes: list[int] = []
        with self.lock:
            for seq, part in enumerate(segmented.parts, start=1):
                concat = (pdu.Concat(concat_ref, segmented.count, seq)
                          if segmented.count > 1 else None)
                deliver = pdu.encode_deliver(sender, part, now, encoding=segmented.encoding,
                                             smsc=self.smsc, concat=concat)
                if self.cnmi[1] == 2 and self.cmgf == 0:
                    self._write(f"\r\n+CMT: ,{_tpdu_len(deliver)}\r\n{deliver}\r\n"
                                .encode("ascii"))
                    continue
                index = max(self.storage, default=0) + 1
                self.storage[index] = Stored(index, deliver, sender, part, now)
                indexes.append(index)
                if self.cnmi[1] == 1:
                    self.emit(f'+CMTI: "SM",{index}')
        return indexes

    def _cmd_cmgr(self, body: str) -> list[str]:
        try:
            index = int(body.split("=")[1])
        except (IndexError, ValueError):
            return self._error("CMS", 321)
        stored = self.storage.get(index)
        if stored is None:
            return self._error("CMS", 321)          # invalid memory index
        status = stored.status
        stored.status = "REC READ"
        if self.cmgf == 0:
            stat = 0 if status == "REC UNREAD" else 1
            tpdu_len = _tpdu_len(stored.pdu_hex)
            return [f"+CMGR: {stat},,{tpdu_len}", stored.pdu_hex, "OK"]
        stamp = stored.timestamp.strftime("%y/%m/%d,%H:%M:%S+00")
        return [f'+CMGR: "{status}","{stored.sender}",,"{stamp}"', stored.text, "OK"]

    def _cmd_cmgd(self, body: str) -> list[str]:
        try:
            index = int(body.split("=")[1].split(",")[0])
        except (IndexError, ValueError):
            return ["ERROR"]
        self.storage.pop(index, None)
        return ["OK"]

    def _cmd_cmgl(self, body: str) -> list[str]:
        lines: list[str] = []
        for stored in sorted(self.storage.values(), key=lambda s: s.index):
            tpdu_len = _tpdu_len(stored.pdu_hex)
            lines += [f"+CMGL: {stored.index},0,,{tpdu_len}", stored.pdu_hex]
        return lines + ["OK"]

    # ------------------------------------------------------------ test helpers
    def texts(self) -> list[str]:
        """Reassembled texts of everything sent, in order (concatenated parts joined)."""
        done: list[str] = []
        groups: dict[tuple[str, int, int], dict[int, str]] = {}
        for part in self.sent:
            if part.concat is None:
                done.append(part.text)
                continue
            key = (part.recipient, part.concat.reference, part.concat.total)
            groups.setdefault(key, {})[part.concat.sequence] = part.text
            if len(groups[key]) == part.concat.total:
                texts = groups.pop(key)
                done.append("".join(texts[i] for i in range(1, part.concat.total + 1)))
        return done

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return True
            time.sleep(0.02)
        return False


def _tpdu_len(pdu_hex: str) -> int:
    """Octets after the SMSC field: what +CMT/+CMGR/+CMGL report (TS 27.005 §3.1)."""
    return len(pdu_hex) // 2 - (int(pdu_hex[:2], 16) + 1)


class PowerUpModem(ModemSim):
    """Refuses submits with +CMS ERROR: 330 (SMSC unknown) for ``not_ready`` seconds after
    power-up, like many Huawei/SIMCom sticks (python-gsmmodem faucamp#10)."""

    def __init__(self, *, not_ready: float = 1.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.not_ready = not_ready

    def cmgs_error(self, recipient: str) -> list[str] | None:
        if time.monotonic() - self.powered_at < self.not_ready:
            return self._error("CMS", 330)
        return None


class RejectingModem(ModemSim):
    """Refuses recipients matching ``pattern`` with ``+CMS ERROR: <code>`` (plain ERROR with
    ``code=None``), e.g. 21 "short message transfer rejected"."""

    def __init__(self, *, pattern: str = r"^\+999", code: int | None = 21,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.pattern = re.compile(pattern)
        self.code = code

    def cmgs_error(self, recipient: str) -> list[str] | None:
        if self.pattern.search(recipient):
            return ["ERROR"] if self.code is None else self._error("CMS", self.code)
        return None


class HungModem(ModemSim):
    """Stops answering anything after :meth:`hang` until ``duration`` seconds pass (a
    firmware watchdog reboot); then it comes back power-cycled (echo on, settings lost)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.hung_until = 0.0
        self.ignored: list[str] = []

    def hang(self, duration: float) -> None:
        with self.lock:
            self.hung_until = time.monotonic() + duration

    def answering(self, line: str) -> bool:
        if time.monotonic() < self.hung_until:
            self.ignored.append(line)
            return False
        if self.hung_until:
            self.hung_until = 0.0
            self.echo, self.cmgf, self.cmee = True, 0, 0
            self.cnmi = [0, 0, 0, 0, 0]
            self.powered_at = time.monotonic()
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--link", help="stable symlink to the pty (e.g. /tmp/ttySIM)")
    parser.add_argument("--pin", help="SIM PIN the modem asks for")
    parser.add_argument("--register-delay", type=float, default=0.0)
    parser.add_argument("--report-delay", type=float, default=1.0)
    parser.add_argument("--report-status", type=lambda v: int(v, 0), default=0)
    parser.add_argument("--not-ready", type=float, default=0.0,
                        help="answer +CMS ERROR: 330 for this many seconds after start")
    args = parser.parse_args(argv)
    common = dict(link=args.link, pin=args.pin, register_delay=args.register_delay,
                  report_delay=args.report_delay, report_status=args.report_status)
    sim: ModemSim = (PowerUpModem(not_ready=args.not_ready, **common) if args.not_ready
                     else ModemSim(**common))  # type: ignore[arg-type]
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    sim.start()
    print(sim.device, flush=True)
    shown = 0
    try:
        while True:
            time.sleep(0.2)
            with sim.lock:
                new, shown = sim.sent[shown:], len(sim.sent)
            for part in new:
                print(f"MR {part.mr} -> {part.recipient}: {part.text!r}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

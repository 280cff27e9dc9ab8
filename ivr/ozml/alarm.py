"""Ademco Contact ID (SIA DC-05-1999.09) for ``<ReceiveAlarmNotification>``. Pure.

An alarm panel that reaches us waits for the *handshake* (1400 Hz then 2300 Hz, 100 ms each,
100 ms apart), sends 16 DTMF digits ``ACCT MT Q XYZ GG CCC S`` and waits for the *kissoff*
(1400 Hz, 750-1000 ms); without a kissoff it sends the message again. The checksum digit S
makes the sum of all digit values a multiple of 15, where the key ``0`` counts 10 and
``* # A B C D`` stand for the hex digits E F A B C D (DC-05 §3.2, "digit values").
Ozeki (p_5556, p_7670) exposes ``$account $eventqualifier $eventcode $eventname $partition
$zone`` to the commands inside ``<Received>``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ContactId", "handshake_tone", "kissoff_tone", "encode", "EVENT_NAMES"]

_VALUE = {**{str(d): d for d in range(1, 10)}, "0": 10, "*": 14, "#": 15,
          "A": 10, "B": 11, "C": 12, "D": 13}
_KEY = {10: "0", 11: "B", 12: "C", 13: "D", 14: "*", 15: "#",
        **{d: str(d) for d in range(1, 10)}}
_QUALIFIERS = {"1": "NewEvent", "3": "NewRestore", "6": "StatusReport"}

# The commonest event codes of DC-05 Appendix (the full table has several hundred).
EVENT_NAMES: dict[str, str] = {
    "100": "Medical", "101": "Personal emergency", "110": "Fire", "111": "Smoke",
    "120": "Panic", "121": "Duress", "122": "Silent panic", "123": "Audible panic",
    "130": "Burglary", "131": "Perimeter", "132": "Interior", "134": "Entry/Exit",
    "137": "Tamper", "140": "General alarm", "150": "24 hour non-burglary",
    "151": "Gas detected", "154": "Water leakage", "158": "High temperature",
    "301": "AC loss", "302": "Low system battery", "305": "System reset",
    "309": "Battery test failure", "344": "RF receiver jam", "350": "Communication trouble",
    "373": "Fire trouble", "380": "Sensor trouble", "383": "Sensor tamper",
    "384": "RF low battery", "401": "Open/Close by user", "403": "Automatic open/close",
    "406": "Cancel", "407": "Remote arm/disarm", "441": "Armed stay",
    "570": "Zone bypass", "602": "Periodic test report", "627": "Program mode entry",
    "628": "Program mode exit",
}


def handshake_tone() -> str:
    """The receiver's handshake as a ``tone:`` source (Hz/seconds, 0 Hz = silence)."""
    return "tone:1400/0.1,0/0.1,2300/0.1"


def kissoff_tone() -> str:
    return "tone:1400/0.8"


def _checksum_ok(digits: str) -> bool:
    return all(d in _VALUE for d in digits) and sum(_VALUE[d] for d in digits) % 15 == 0


def encode(account: str, qualifier: str, event: str, partition: str, zone: str) -> str:
    """The 16 keys a panel sends (message type 18), checksum included; for tests and tools."""
    body = f"{account:0>4}18{qualifier}{event:0>3}{partition:0>2}{zone:0>3}"
    rest = -sum(_VALUE[d] for d in body) % 15
    return body + _KEY[rest or 15]


@dataclass(frozen=True)
class ContactId:
    account: str
    qualifier: str      # NewEvent | NewRestore | StatusReport
    event_code: str
    partition: str
    zone: str

    @property
    def event_name(self) -> str:
        return EVENT_NAMES.get(self.event_code, f"Event {self.event_code}")

    @classmethod
    def parse(cls, digits: str) -> ContactId | None:
        """A valid 16-key message (type 18 or 98), else None (wrong length, type, checksum)."""
        if len(digits) != 16 or not _checksum_ok(digits) or digits[4:6] not in ("18", "98"):
            return None
        qualifier = _QUALIFIERS.get(digits[6])
        if qualifier is None:
            return None
        return cls(digits[0:4], qualifier, digits[7:10], digits[10:12], digits[12:15])

    def variables(self) -> dict[str, str]:
        return {"account": self.account, "eventqualifier": self.qualifier,
                "eventcode": self.event_code, "eventname": self.event_name,
                "partition": self.partition, "zone": self.zone}

    def __str__(self) -> str:
        return (f"account {self.account}: {self.qualifier} {self.event_code} "
                f"({self.event_name}), partition {self.partition}, zone {self.zone}")

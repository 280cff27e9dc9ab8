"""Settings of the SMS pipeline ([sms], [sms.transports], [sms.routes])."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.urlpolicy import DEFAULT_DENY

__all__ = ["SmsSettings"]


@dataclass
class SmsSettings:
    # "" = sqlite:///<[ivr] data_dir>/ivr.db; or sqlite:///PATH, postgresql://user:pw@host/db
    database_url: str = ""
    database_pool_size: int = 8                  # PostgreSQL connections per process
    # name -> transport URL, e.g. loopback://, modem:///dev/ttyUSB0?baudrate=115200,
    # smpp://id:pw@host:2775, http+preset://... ; the first one is the default route.
    transports: dict[str, str] = field(default_factory=lambda: {"loopback": "loopback://"})
    # recipient prefix (or "sender:<name>") -> transport name; longest prefix wins
    routes: dict[str, str] = field(default_factory=dict)
    default_transport: str = ""                  # "" = the first transport
    workers: int = 4
    # Messages a worker claims, sends and records together (one transaction each way), at
    # most a transport's free window.
    batch: int = 64
    max_segments: int = 10
    max_attempts: int = 10
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    claim_lease_seconds: float = 120.0          # renewed while a send still runs
    # A send cut short by a crash waits this long for the peer's report before it is sent
    # again (its report, when it comes, proves the peer has it: no duplicate).
    in_doubt_hold_seconds: float = 60.0
    inbound_concat_timeout: float = 600.0       # parts of a long inbound SMS wait this long
    default_sender: str = ""
    callback_retry_period: float = 86400.0       # keep retrying a callback this long
    callback_timeout: float = 10.0
    callback_retry_base: float = 2.0             # first callback retry delay, doubling...
    callback_retry_max: float = 600.0            # ...up to this many seconds between tries
    callback_hmac_key: str = ""                   # "" = generated and stored in data dir
    callback_allow: list[str] = field(default_factory=list)   # CIDRs/hosts always allowed
    # Metadata, link-local, "this network" and loopback (ivr/urlpolicy.py DEFAULT_DENY); allow
    # 127.0.0.0/8 in callback_allow for an application on this machine.
    callback_deny: list[str] = field(default_factory=lambda: list(DEFAULT_DENY))

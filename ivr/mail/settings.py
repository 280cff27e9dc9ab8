"""Settings of the e-mail relay ([email] section)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EmailSettings"]


@dataclass
class EmailSettings:
    relay_host: str = ""                 # "" = no e-mail: <SendEmail> is skipped with a warning
    relay_port: int = 25
    security: str = "none"               # none | starttls | tls (SMTPS, usually port 465)
    username: str = ""
    password: str = ""
    sender: str = "ivr@localhost"        # From when a script gives no Sender
    timeout: float = 10.0                # per SMTP conversation
    retry_base: float = 5.0              # first retry after this many seconds, then doubling
    retry_max: float = 300.0             # ... up to this
    retry_period: float = 86400.0        # give up on a message after trying this long
    outbox: str = ""                     # SQLite file; "" = <[ivr] data_dir>/mail.sqlite

"""SMS transports, each behind the Transport protocol of ``base.py``, built from one URL.

``loopback://`` · ``modem:///dev/ttyUSB0?baudrate=115200&pin=1234`` ·
``smpp://id:password@host:2775?...`` · ``http(s)://...`` or ``http+<preset>://...`` ·
``sip://...`` (SIP MESSAGE to registered clients). Each module exposes
``from_url(name, url)`` and is imported only when used.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from ivr.errors import ConfigError
from ivr.sms.transports.base import Transport

__all__ = ["build_transport", "SCHEMES"]

SCHEMES = {"loopback": "loopback", "modem": "modem", "smpp": "smpp", "http": "http",
           "https": "http", "sip": "sip_message_transport"}


def build_transport(name: str, url: str) -> Transport:
    scheme = urlsplit(url).scheme.lower()
    module_name = SCHEMES.get(scheme.split("+")[0])
    if module_name is None:
        raise ConfigError(f"transport {name}: unknown scheme {scheme!r} in {url!r} "
                          f"(known: {', '.join(sorted(SCHEMES))})")
    try:
        module = importlib.import_module(f"ivr.sms.transports.{module_name}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"transport {name}: the {scheme} transport is not available in this "
                          f"build ({exc.name})") from None
    transport: Transport = module.from_url(name, url)
    return transport

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

SCHEMES = {"loopback": "ivr.sms.transports.loopback", "modem": "ivr.sms.transports.modem",
           "smpp": "ivr.sms.transports.smpp", "http": "ivr.sms.transports.http",
           "https": "ivr.sms.transports.http", "sip": "ivr.voice.sip_message"}


def build_transport(name: str, url: str, public_url: str = "", dlr_token: str = "") -> Transport:
    """``public_url`` is how providers reach our delivery-report webhooks (HTTP presets),
    ``dlr_token`` what those webhooks require (see ``callbacks.webhook_token``)."""
    scheme = urlsplit(url).scheme.lower()
    module_name = SCHEMES.get(scheme.split("+")[0])
    if module_name is None:
        raise ConfigError(f"transport {name}: unknown scheme {scheme!r} in {url!r} "
                          f"(known: {', '.join(sorted(SCHEMES))})")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"transport {name}: the {scheme} transport is not available in this "
                          f"build ({exc.name})") from None
    if module_name == "ivr.sms.transports.http":
        built: Transport = module.from_url(name, url, public_url=public_url,
                                           dlr_token=dlr_token)
        return built
    transport: Transport = module.from_url(name, url)
    return transport

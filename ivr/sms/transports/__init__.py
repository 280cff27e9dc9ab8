"""SMS transports, each behind the Transport protocol of ``base.py``, built from one URL.

``loopback://`` · ``modem:///dev/ttyUSB0?baudrate=115200&pin=1234`` ·
``smpp://id:password@host:2775?...`` · ``http(s)://...`` or ``http+<preset>://...``. Each
module exposes ``from_url(name, url)`` and is imported only when used. Transports that live
outside the SMS side (``sip://``, SIP MESSAGE to registered clients, in ``ivr.voice``) are
passed in as ``extra`` factories by the composition root (``ivr.service.build_transport``):
sms/ never names a module of another side, not even as a string.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from ivr.errors import ConfigError
from ivr.sms.transports.base import Transport

__all__ = ["build_transport", "SCHEMES", "TransportFactory"]

# (name, url) -> the transport, for a scheme this package does not implement.
TransportFactory = Callable[[str, str], Transport]

SCHEMES = {"loopback": "ivr.sms.transports.loopback", "modem": "ivr.sms.transports.modem",
           "smpp": "ivr.sms.transports.smpp", "http": "ivr.sms.transports.http",
           "https": "ivr.sms.transports.http"}


def build_transport(name: str, url: str, public_url: str = "", dlr_token: str = "",
                    extra: Mapping[str, TransportFactory] | None = None) -> Transport:
    """``public_url`` is how providers reach our delivery-report webhooks (HTTP presets),
    ``dlr_token`` what those webhooks require (see ``callbacks.webhook_token``); ``extra``
    adds schemes implemented elsewhere (scheme -> factory)."""
    scheme = urlsplit(url).scheme.lower()
    base = scheme.split("+")[0]
    if extra and base in extra:
        return extra[base](name, url)
    module_name = SCHEMES.get(base)
    if module_name is None:
        known = sorted({*SCHEMES, *(extra or {})})
        raise ConfigError(f"transport {name}: unknown scheme {scheme!r} in {url!r} "
                          f"(known: {', '.join(known)})")
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

"""The composition root: Services built whole, and the files it creates private."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.api.auth import RateLimiter
from ivr.api.notify import Notifier
from ivr.config import Settings
from ivr.errors import ConfigError
from ivr.service import build_services, build_transport
from ivr.sms.transports import build_transport as sms_side
from ivr.sms.transports.loopback import LoopbackTransport


def test_services_are_built_whole_and_private(tmp_path: Path) -> None:
    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "data")
    settings.audio.recordings_dir = str(tmp_path / "recordings")
    settings.http.notification_url = "http://127.0.0.1:9/events"
    services = build_services(settings)
    try:
        assert isinstance(services.rate_limiter, RateLimiter)
        assert isinstance(services.notifier, Notifier)
        assert services.notifier.sms_final in services.sms.final_listeners
        assert services.calls is None
        for directory in ("data", "recordings"):
            assert (tmp_path / directory).stat().st_mode & 0o777 == 0o700
        for name in ("ivr.db", "callback.key"):
            assert (tmp_path / "data" / name).stat().st_mode & 0o777 == 0o600
        assert services.address_book is not None
    finally:
        services.sms.store.close()
        services.close_address_book()


def test_the_sms_core_holds_no_address_book(tmp_path: Path) -> None:
    """Names are expanded where a request or a script is accepted; the SMS core resolves
    none, so it keeps no connection for the book (one per core on PostgreSQL)."""
    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "data")
    services = build_services(settings, address_book=False)
    try:
        assert services.address_book is None
        services.close_address_book()           # nothing to close, no error
    finally:
        services.sms.store.close()


def test_sip_scheme_is_registered_by_the_root_only() -> None:
    assert isinstance(build_transport("lb", "loopback://"), LoopbackTransport)
    with pytest.raises(ConfigError, match="unknown scheme 'sip'"):
        sms_side("phones", "sip://127.0.0.1:5060")
    assert type(build_transport("phones", "sip://127.0.0.1:5060")).__module__ == \
        "ivr.voice.sip_message"

"""The store's read methods the console and /metrics use, on SQLite and on PostgreSQL: queue
depths, and each callback job with the result of its last attempt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from callback_receiver import CallbackReceiver

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from tests.integration.voice_peers import wait_until


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_depths_and_callback_history(backend: str, make_settings: Callable[..., Settings],
                                     request: pytest.FixtureRequest,
                                     receiver: CallbackReceiver) -> None:
    overrides = {"callback_retry_base": 0.05}
    if backend == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    service = build_sms_service(make_settings(**overrides))
    if backend == "postgres":
        service.store.reset()  # type: ignore[attr-defined]
    try:
        receiver.status = 503
        ids = [service.submit_sms(SmsRequest(recipient=f"+3670{n:07d}", body="depth",
                                             callback_url=receiver.url + "/dlr"))
               for n in range(3)]
        assert service.store.depths() == {"ivr_store_queued_messages": 3,
                                          "ivr_store_sending_messages": 0,
                                          "ivr_callbacks_pending": 0}
        service.start()
        assert wait_until(lambda: all(m.is_final for m in service.run_until_final(ids, 0)), 15)
        # the receiver is soon "down" and only probed (doubling pauses): allow for that
        assert wait_until(lambda: any(n >= 2 for _, _, n, _ in
                                      service.store.callback_history(ids[0])), 40)
        history = service.store.callback_history(ids[0])
        assert {state for _, state, _, _ in history} == {"pending"}
        assert any(last == "HTTP 503" for _, _, _, last in history)
        assert service.store.depths()["ivr_callbacks_pending"] >= 3
        receiver.status = 200
        assert wait_until(lambda: service.store.depths()["ivr_callbacks_pending"] == 0, 30)
        assert [state for _, state, _, _ in service.store.callback_history(ids[0])] == \
            ["done"] * len(history)
        # every attempt with what it got: 503s while the receiver refused, then HTTP 200
        attempts = service.store.callback_attempts(ids[0])
        results = [result for _, _, result in attempts]
        assert results.count("HTTP 503") >= 2 and results[-1] == "HTTP 200"
        assert all(at > 0 for _, at, _ in attempts)
        assert service.store.depths()["ivr_store_queued_messages"] == 0
    finally:
        service.stop()
        service.store.close()

"""An HTTP provider gives one id for a whole long message: its report must cover every part."""

from __future__ import annotations

from collections.abc import Callable

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport, SubmitResult, TransportEvents


class OneIdProvider:
    """A transport that, like Restcomm/JSON:API providers, answers one id per message."""

    name, max_in_flight, rate_limit = "provider", 2, 0.0

    def start(self, events: TransportEvents) -> None:
        self.events = events

    def healthy(self) -> bool:
        return True

    def stop(self) -> None:
        pass

    def send(self, message: Message) -> SubmitResult:
        return SubmitResult(provider_ids=["sm-42"] * message.segments)


def test_one_report_delivers_every_part(make_settings: Callable[..., Settings]) -> None:
    provider = OneIdProvider()
    service = build_sms_service(make_settings(), extra_transports={"provider": provider})
    service.start()
    try:
        message = service.submit(SmsRequest(recipient="+3612345678", body="x" * 400,
                                            transport="provider"))
        assert message.segments == 3
        deadline_message = service.run_until_final([message.id], 2)[0]
        assert deadline_message.status == Status.SENT
        service.on_delivery_report(DeliveryReport("provider", Status.DELIVERED,
                                                  provider_id="sm-42"))
        [final] = service.run_until_final([message.id], 5)
        assert final.status == Status.DELIVERED
        assert [p.status for p in final.parts] == [Status.DELIVERED] * 3
    finally:
        service.stop()

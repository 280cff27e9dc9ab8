"""Ozeki result rendering against golden XML, and the DeliveryReportURL parameters."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from lxml import etree

from ivr.api.ozeki import delivery_report_params, split_recipients
from ivr.api.render import OzekiResult, error, render_json, render_xml
from ivr.sms.message import Direction, Message, Status

DATA = Path(__file__).resolve().parents[2] / "data" / "api"


def test_sendsms_success_matches_golden_and_is_well_formed() -> None:
    xml = render_xml(OzekiResult("SendSms", fields=[
        ("SmsId", "7d678b16-0e81-4a05-805b-851e4794495e")]))
    assert xml == (DATA / "ozeki_sendsms_ok.xml").read_text()
    root = etree.fromstring(xml.encode())
    assert root.tag == "OzApi_CommandResult_SendSms"
    assert [c.tag for c in root] == ["Code", "Message", "SmsId"]


def test_error_templates() -> None:
    assert error("SendSms", 302, "Recipient", "SendSms").message == \
        "Missing or invalid parameter 'Recipient' for command 'SendSms'"
    assert error("", 301, "Foo").message == "Not implemented command: 'Foo'"
    assert error("Hangup", 601, "abc").message == "Call not found with ID 'abc'"
    assert error("SendSms", 305).message == "Authentication failed, bad username or password"
    unknown = render_xml(error("", 301, "Foo", detail="supported: SendSms"))
    assert etree.fromstring(unknown.encode()).tag == "OzApi_CommandResult"
    assert "<Code>301</Code>" in unknown and "supported: SendSms" in unknown


def test_json_has_the_same_fields_and_lists_repeated_ids() -> None:
    one = json.loads(render_json(OzekiResult("SendSms", fields=[("SmsId", "a")])))
    assert one == {"Code": 200, "Message": "Command successfully executed", "SmsId": "a"}
    two = json.loads(render_json(OzekiResult("SendSms", fields=[("SmsId", "a"),
                                                                ("SmsId", "b")])))
    assert two["SmsId"] == ["a", "b"]


def test_active_calls_shape() -> None:
    xml = render_xml(OzekiResult("ListActiveCalls", calls=[{
        "CallState": "InCall", "CallId": "c1", "Source": "sip", "CallerId": "+1",
        "Destination": "100", "StartTime": "2026-01-01T00:00:00Z", "RingDuration": "0",
        "TalkDuration": "12"}]))
    info = etree.fromstring(xml.encode()).find("ActiveCalls/CallInfo")
    assert info is not None
    assert [c.tag for c in info] == ["CallState", "CallId", "Source", "CallerId", "Destination",
                                     "StartTime", "RingDuration", "TalkDuration"]


def test_text_is_escaped() -> None:
    xml = render_xml(error("SendSms", 302, "Message", "SendSms", detail="<&>"))
    assert "&lt;&amp;&gt;" in xml
    etree.fromstring(xml.encode())


def test_split_recipients() -> None:
    assert split_recipients("+1 555 0100, +15550101;;+15550102 ") == [
        "+1 555 0100", "+15550101", "+15550102"]


def test_delivery_report_params_final_only() -> None:
    when = dt.datetime(2026, 11, 23, 8, 0, 5, tzinfo=dt.UTC)
    message = Message(id="m1", direction=Direction.OUTBOUND, sender="+0615546669",
                      recipient="+0615546670", body="Hello world", status=Status.DELIVERED,
                      segments=1, sent_at=when, delivered_at=when)
    params = delivery_report_params(message, Status.DELIVERED)
    assert params["NotificationName"] == "SMSDeliveryReport"
    assert (params["SmsId"], params["DeliveryStatus"]) == ("m1", "Delivered")
    assert params["DeliveryTime"] == "2026-11-23T08:00:05Z"
    assert delivery_report_params(message, Status.SENT) == {}
    failed = delivery_report_params(message, Status.FAILED)
    assert failed["DeliveryStatus"] == "Failed"

"""Restcomm dialect, pure parts: Sid, RFC 2822 dates, resource attributes, paging, XML, callbacks."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from ivr.api.restcomm import (
    ListParams,
    message_id_from_sid,
    message_resource,
    message_sid,
    paging_fields,
    parse_list_params,
    render_xml,
    rfc2822,
    status_callback_params,
)
from ivr.errors import ApiError
from ivr.sms.message import Direction, Message, Status

ACCOUNT = "AC" + "1" * 32
MID = "5dd70f7e-a54e-47f1-a497-49debeec3f7f"


def message(**kw: object) -> Message:
    when = dt.datetime(2015, 11, 19, 12, 21, 35, tzinfo=dt.UTC)
    fields: dict[str, object] = {
        "id": MID, "direction": Direction.OUTBOUND, "sender": "19876543212",
        "recipient": "13216549878", "body": "Test SMS", "status": Status.SENDING,
        "created_at": when, "updated_at": when, "source": f"api:restcomm:{ACCOUNT}"}
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


def test_sid_round_trip() -> None:
    assert message_sid(MID) == "SM5dd70f7ea54e47f1a49749debeec3f7f"
    assert message_id_from_sid("SM5dd70f7ea54e47f1a49749debeec3f7f") == MID
    assert message_id_from_sid("SMnothex") is None and message_id_from_sid("XX") is None


def test_rfc2822_dates_like_the_document() -> None:
    offset = dt.timezone(dt.timedelta(hours=-5))
    assert rfc2822(dt.datetime(2015, 11, 19, 7, 21, 35, 999, tzinfo=offset)) == \
        "Thu, 19 Nov 2015 07:21:35 -0500"
    assert rfc2822(dt.datetime(2018, 5, 31, 16, 10, 32)) == "Thu, 31 May 2018 16:10:32 +0000"
    assert rfc2822(None) is None


def test_post_resource_has_the_documents_keys_in_order() -> None:
    resource = message_resource(message(), ACCOUNT, full=False)
    assert list(resource) == ["sid", "date_created", "date_updated", "account_sid", "from", "to",
                              "body", "status", "direction", "api_version", "uri"]
    assert resource["status"] == "sending" and resource["direction"] == "outbound-api"
    assert resource["uri"] == (f"/api/2012-04-24/Accounts/{ACCOUNT}/SMS/Messages/"
                               "SM5dd70f7ea54e47f1a49749debeec3f7f.json")


def test_full_resource_has_every_attribute() -> None:
    resource = message_resource(message(status=Status.FAILED, error_code=30003,
                                        error_message="Unreachable destination handset",
                                        segments=2), ACCOUNT, json_suffix=False)
    assert set(resource) == {"sid", "date_created", "date_updated", "date_sent", "account_sid",
                             "from", "to", "body", "status", "direction", "num_segments",
                             "api_version", "uri", "error_code", "error_message"}
    assert resource["num_segments"] == 2 and resource["error_code"] == 30003
    assert not resource["uri"].endswith(".json")


def test_status_callback_params_in_document_order() -> None:
    assert list(status_callback_params(message(), Status.SENT).items()) == [
        ("MessageSid", "SM5dd70f7ea54e47f1a49749debeec3f7f"), ("MessageStatus", "sent"),
        ("AccountSid", ACCOUNT), ("From", "19876543212"), ("To", "13216549878"),
        ("Body", "Test SMS")]
    failed = status_callback_params(message(error_code=30005), Status.UNDELIVERED)
    assert list(failed)[:3] == ["MessageSid", "MessageStatus", "ErrorCode"]
    assert failed["ErrorCode"] == "30005"


def test_list_params_from_the_documents_example() -> None:
    params = parse_list_params({"From": "19876543212", "To": "13216549878",
                                "StartTime": "2018-05-30", "EndTime": "2018-06-09",
                                "Page": "0", "PageSize": "10", "SortBy": "DateCreated:asc"})
    assert (params.page, params.page_size, params.sort_by, params.descending) == (
        0, 10, "created_at", False)
    assert params.start_time == dt.datetime(2018, 5, 30, tzinfo=dt.UTC)
    assert params.end_time is not None and params.end_time.date() == dt.date(2018, 6, 9)
    assert params.end_time.hour == 23
    assert parse_list_params({"SortBy": "Status:desc"}).descending


@pytest.mark.parametrize("args,name", [
    ({"Page": "-1"}, "Page"), ({"PageSize": "0"}, "PageSize"), ({"PageSize": "x"}, "PageSize"),
    ({"SortBy": "Body"}, "SortBy"), ({"SortBy": "To:up"}, "SortBy"),
    ({"StartTime": "yesterday"}, "StartTime"), ({"AfterSid": "bogus"}, "AfterSid"),
])
def test_bad_list_params_name_the_parameter(args: dict[str, str], name: str) -> None:
    with pytest.raises(ApiError, match=name) as info:
        parse_list_params(args)
    assert info.value.http_status == 400


def test_paging_fields() -> None:
    base = f"/api/2012-04-24/Accounts/{ACCOUNT}/SMS/Messages"
    page = paging_fields(base, ListParams(page=0, page_size=10), 34, 10, "SMlast")
    assert page["num_pages"] == 4 and page["total"] == 34
    assert (page["start"], page["end"]) == ("0", "9")
    assert page["previous_page_uri"] == "null"
    assert page["next_page_uri"] == f"{base}?Page=1&PageSize=10&AfterSid=SMlast"
    assert page["last_page_uri"] == f"{base}?Page=3&PageSize=10"
    assert page["first_page_uri"] == f"{base}?Page=0&PageSize=10"
    last = paging_fields(base, ListParams(page=3, page_size=10, to="1"), 34, 4, "SMx")
    assert last["next_page_uri"] == "null" and (last["start"], last["end"]) == ("30", "33")
    assert last["previous_page_uri"] == f"{base}?To=1&Page=2&PageSize=10"


def test_xml_shapes() -> None:
    one = etree.fromstring(render_xml(message_resource(message(), ACCOUNT, json_suffix=False)))
    assert one.tag == "RestcommResponse"
    assert one.findtext("SMSMessage/Sid") == "SM5dd70f7ea54e47f1a49749debeec3f7f"
    assert one.findtext("SMSMessage/AccountSid") == ACCOUNT
    base = "/x"
    page = paging_fields(base, ListParams(), 1, 1, "SMa")
    listing = etree.fromstring(render_xml(page=page, messages=[
        message_resource(message(), ACCOUNT)]))
    node = listing.find("SMSMessages")
    assert node is not None and node.get("total") == "1" and node.get("numpages") == "1"
    assert len(node.findall("SMSMessage")) == 1
    error = etree.fromstring(render_xml(error=(404, "nope")))
    assert error.findtext("RestException/Status") == "404"

"""The Ozeki command API on a real waitress server, with the real SMS pipeline and a real
callback receiver: the seed 004 example verbatim, every error path, DeliveryReportURL."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from callback_receiver import CallbackReceiver
from lxml import etree

from ivr.api.app import HttpServer, create_app, serve_http
from ivr.config import Settings
from ivr.service import (
    Services,
    _callback_formats,
    build_services,
    build_sms_service,
    user_store_path,
)
from ivr.sms.message import Status
from ivr.sms.store import MessageQuery
from ivr.users import UserStore

DATA = Path(__file__).resolve().parents[1] / "data" / "api"
SMSID = "SmsId"


class Api:
    def __init__(self, server: HttpServer, services: Services) -> None:
        self.base = f"http://127.0.0.1:{server.port}"
        self.services = services

    def get(self, query: str, **kw: object) -> requests.Response:
        return requests.get(f"{self.base}/api?{query}", timeout=10, **kw)  # type: ignore[arg-type]

    def code(self, response: requests.Response) -> int:
        return int(etree.fromstring(response.content).findtext("Code") or 0)


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    settings = make_settings()
    settings.http.port = 0
    services = build_services(settings)      # the composition root, address book included
    services.users.ensure_demo_user()
    services.users.add("smsonly", "password1", {"sms"})
    services.sms.start()
    server = serve_http(create_app(settings, services), "127.0.0.1", 0, threads=4)
    yield Api(server, services)
    server.stop()
    services.sms.stop()


def seed_query(report_url: str) -> str:
    # The example URL of seed 004, verbatim, with the report URL pointed at our receiver.
    return ("command=SendSms&Username=HTTP_User_1&Password=qwe123&Sender=%2b0615546669"
            "&Recipient=%2b0615546670&Message=Hello+world&DeliveryReportURL=" + report_url)


def test_seed_example_returns_documented_xml_and_reports_delivery(
        api: Api, receiver: CallbackReceiver) -> None:
    response = api.get(seed_query(receiver.url + "/smsdelivered.php"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(response.content)
    assert root.tag == "OzApi_CommandResult_SendSms"
    assert root.nsmap == {"xsd": "http://www.w3.org/2001/XMLSchema",
                          "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    assert [c.tag for c in root] == ["Code", "Message", "SmsId"]
    assert (root.findtext("Code"), root.findtext("Message")) == (
        "200", "Command successfully executed")
    sms_id = root.findtext(SMSID) or ""
    golden = (DATA / "ozeki_sendsms_ok.xml").read_text().replace(
        "7d678b16-0e81-4a05-805b-851e4794495e", sms_id)
    assert response.text == golden
    stored = api.services.sms.get(sms_id)          # durable before the answer
    assert stored is not None and stored.recipient == "+0615546670"
    [hit] = receiver.wait_for(1)
    # Ozeki sends every notification as a form POST (p_4201, p_4233)
    assert hit.path == "/smsdelivered.php" and hit.method == "POST"
    assert hit.form["NotificationName"] == "SMSDeliveryReport"
    assert (hit.form["SmsId"], hit.form["DeliveryStatus"]) == (sms_id, "Delivered")
    assert (hit.form["Recipient"], hit.form["Sender"]) == ("+0615546670", "+0615546669")
    assert hit.headers["X-Ivr-Signature"].startswith("sha256=")


def test_delivery_report_method_get_keeps_older_web_apps_working(
        api: Api, receiver: CallbackReceiver) -> None:
    api.services.settings.ozml.delivery_report_method = "GET"   # [ozml] delivery_report_method
    response = api.get(seed_query(receiver.url + "/smsdelivered.php"))
    assert api.code(response) == 200
    [hit] = receiver.wait_for(1)
    assert hit.method == "GET" and hit.query["NotificationName"] == "SMSDeliveryReport"


def test_post_form_misspelt_report_url_and_case_insensitive_names(
        api: Api, receiver: CallbackReceiver) -> None:
    response = requests.post(f"{api.base}/api", timeout=10, data={
        "COMMAND": "sendSMS", "username": "HTTP_User_1", "PASSWORD": "qwe123",
        "recipient": "+36201234567", "message": "Árvíztűrő tükörfúrógép",
        "DelivaryReportURL": receiver.url + "/dlr?order=5"})
    assert api.code(response) == 200
    [hit] = receiver.wait_for(1)
    assert hit.query["order"] == "5" and hit.form["DeliveryStatus"] == "Delivered"


def test_several_recipients_get_one_message_each(api: Api) -> None:
    response = api.get("command=SendSms&Username=HTTP_User_1&Password=qwe123"
                       "&Recipient=%2B3611111,%2B3622222;%2B3633333&Message=hi")
    ids = [e.text for e in etree.fromstring(response.content).findall(SMSID)]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert [api.services.sms.get(i).recipient for i in ids] == [  # type: ignore[union-attr]
        "+3611111", "+3622222", "+3633333"]


def test_json_format(api: Api) -> None:
    response = api.get("command=SendSms&Username=HTTP_User_1&Password=qwe123"
                       "&Recipient=%2B3611111&Message=hi&format=json")
    body = json.loads(response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert body["Code"] == 200 and len(body["SmsId"]) == 36
    accept = api.get("command=SendSms&Username=HTTP_User_1&Password=qwe123&Recipient=%2B3611"
                     "&Message=hi", headers={"Accept": "application/json"})
    assert json.loads(accept.text)["Code"] == 200

    for accept, json_wanted in (("*/*", False), ("application/xml", False),
                                ("application/json;q=0.9, application/xml;q=0.5", True)):
        answer = api.get("command=SendSms&Username=HTTP_User_1&Password=qwe123"
                         "&Recipient=%2B3611&Message=hi", headers={"Accept": accept})
        assert answer.text.startswith("{") is json_wanted, accept


def test_bare_client_gets_xml_and_a_generated_request_id(api: Api) -> None:
    """No Accept header at all (http.client sends none): XML; a 16-hex-digit request id."""
    conn = http.client.HTTPConnection("127.0.0.1", int(api.base.rsplit(":", 1)[1]), timeout=10)
    conn.request("GET", "/api?command=SendSms&Username=HTTP_User_1&Password=qwe123"
                        "&Recipient=%2B3611&Message=hi")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.getheader("Content-Type", "").startswith("application/xml")
    assert etree.fromstring(body).findtext("Code") == "200"
    request_id = response.getheader("X-Request-Id", "")
    assert len(request_id) == 16 and int(request_id, 16) >= 0


def test_a_form_body_counts_whatever_the_method(api: Api) -> None:
    """A form body is read when it is declared (Content-Type), for GET as for POST; the form
    wins over the query string."""
    response = requests.get(f"{api.base}/api?command=SendSms&Message=from+query", timeout=10,
                            data={"Username": "HTTP_User_1", "Password": "qwe123",
                                  "Recipient": "+3611", "Message": "from form"})
    [sms_id] = [e.text for e in etree.fromstring(response.content).findall(SMSID)]
    assert api.services.sms.get(sms_id).body == "from form"  # type: ignore[union-attr]


AUTH = "Username=HTTP_User_1&Password=qwe123"


@pytest.mark.parametrize(("query", "code", "message"), [
    ("command=Dance&" + AUTH, 301, "Not implemented command: 'Dance'"),
    ("", 301, "Not implemented command: ''"),
    ("command=SendSms&Recipient=%2B361&Message=x", 304, "Authentication required"),
    ("command=SendSms&Username=HTTP_User_1&Password=bad&Recipient=%2B3611&Message=x", 305,
     "Authentication failed, bad username or password"),
    ("command=SendSms&" + AUTH + "&Message=x", 302,
     "Missing or invalid parameter 'Recipient' for command 'SendSms'"),
    ("command=SendSms&" + AUTH + "&Recipient=%2B3611", 302,
     "Missing or invalid parameter 'Message' for command 'SendSms'"),
    ("command=SendSms&" + AUTH + "&Recipient=call+me&Message=x", 302,
     "Missing or invalid parameter 'Recipient' for command 'SendSms'"),
    ("command=SendSms&" + AUTH + "&Recipient=%2B3611&Message=" + "x" * 1700, 302,
     "Missing or invalid parameter 'Message' for command 'SendSms'"),
    ("command=SendSms&" + AUTH + "&Recipient=%2B3611&Message=x&Sender=WayTooLongSender", 302,
     "Missing or invalid parameter 'Sender' for command 'SendSms'"),
    ("command=SendSms&" + AUTH + "&Recipient=%2B3611&Message=x&DeliveryReportURL=ftp://x",
     302, "Missing or invalid parameter 'DeliveryReportURL' for command 'SendSms'"),
    ("command=SendSms&" + AUTH + "&Recipient=%2B3611&Message=x&DeliveryReportURL="
     "http://169.254.169.254/latest/meta-data/", 302,     # denied by the callback policy
     "Missing or invalid parameter 'DeliveryReportURL' for command 'SendSms'"),
    ("command=ListActiveCalls&Username=smsonly&Password=password1", 306,
     "User is not allowed to use API in ACL"),
    ("command=ListActiveCalls&" + AUTH, 303, "Command 'ListActiveCalls' cannot be used here"),
    ("command=Hangup&" + AUTH + "&CallId=x", 303, "Command 'Hangup' cannot be used here"),
])
def test_error_codes_and_templates(api: Api, query: str, code: int, message: str) -> None:
    response = api.get(query)
    root = etree.fromstring(response.content)
    assert response.status_code == 200
    assert int(root.findtext("Code") or 0) == code
    assert (root.findtext("Message") or "").startswith(message)
    assert root.find(SMSID) is None


def test_demo_user_refused_from_another_address_is_307(api: Api) -> None:
    from ivr.errors import AuthError

    with pytest.raises(AuthError) as info:
        api.services.users.authenticate("HTTP_User_1", "qwe123", "192.0.2.7")
    assert info.value.reason == "forbidden"   # rendered as 307 ForbiddenAddress by the view


def test_rate_limit_has_its_own_code(api: Api) -> None:
    api.services.users.add("limited", "password1", {"sms"}, rate_limit_per_minute=2)
    query = "command=SendSms&Username=limited&Password=password1&Recipient=%2B3611&Message=x"
    codes = [api.code(api.get(query)) for _ in range(3)]
    assert codes == [200, 200, 429]
    assert api.get(query).status_code == 429


def test_repeated_bad_passwords_lock_the_address(api: Api) -> None:
    bad = "command=SendSms&Username=smsonly&Password=nope&Recipient=%2B3611&Message=x"
    assert [api.code(api.get(bad)) for _ in range(5)] == [305] * 5
    good = "command=SendSms&Username=smsonly&Password=password1&Recipient=%2B3611&Message=x"
    assert api.code(api.get(good)) == 429


def test_failed_message_is_reported_failed(make_settings: Callable[..., Settings],
                                           receiver: CallbackReceiver) -> None:
    settings = make_settings({"loop": r"loopback://?delay=0.05&fail=^\+999"})
    services = Services(settings=settings,
                        sms=build_sms_service(settings, callback_formats=_callback_formats()),
                        users=UserStore(user_store_path(settings.ivr.data_dir)))
    services.users.ensure_demo_user()
    services.sms.start()
    server = serve_http(create_app(settings, services), "127.0.0.1", 0, threads=2)
    try:
        url = urllib.parse.quote(receiver.url + "/dlr", safe="")
        response = requests.get(f"http://127.0.0.1:{server.port}/api?command=SendSms&" + AUTH +
                                f"&Recipient=%2B999123&Message=x&DeliveryReportURL={url}",
                                timeout=10)
        sms_id = etree.fromstring(response.content).findtext(SMSID)
        [hit] = receiver.wait_for(1)
        assert (hit.form["SmsId"], hit.form["DeliveryStatus"]) == (sms_id, "Failed")
        assert hit.form["ErrorCode"] == "30003"
        assert services.sms.get(sms_id or "").status == Status.FAILED  # type: ignore[union-attr]
    finally:
        server.stop()
        services.sms.stop()


def test_receiver_down_for_a_while_still_gets_the_report(api: Api) -> None:
    receiver = CallbackReceiver().start()
    port = receiver.port
    receiver.stop()
    api.services.sms.callbacks.base_delay = 0.1  # type: ignore[attr-defined]
    api.services.sms.callbacks.max_delay = 0.2  # type: ignore[attr-defined]
    response = api.get(seed_query(f"http://127.0.0.1:{port}/dlr"))
    sms_id = etree.fromstring(response.content).findtext(SMSID)
    time.sleep(1.5)
    receiver = CallbackReceiver(port=port).start()
    try:
        [hit] = receiver.wait_for(1, timeout=15)
        assert hit.form["SmsId"] == sms_id and hit.form["DeliveryStatus"] == "Delivered"
    finally:
        receiver.stop()


def test_request_id_header_and_no_traceback_leak(api: Api) -> None:
    response = requests.get(f"{api.base}/api?command=SendSms", timeout=10,
                            headers={"X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"
    missing = requests.get(f"{api.base}/nowhere", timeout=10)
    assert missing.status_code == 404 and "Traceback" not in missing.text


def test_openapi_lists_every_dialect(api: Api) -> None:
    spec = requests.get(f"{api.base}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    assert "/api" in paths and "/send_message/" in paths and "/api/message" in paths


def test_call_commands_reach_the_sip_side(api: Api) -> None:
    from ivr.voice.calls import CallControl

    api.services.calls = CallControl()
    listing = etree.fromstring(api.get("command=ListActiveCalls&" + AUTH).content)
    assert listing.findtext("Code") == "200" and listing.find("ActiveCalls") is not None
    missing = etree.fromstring(api.get("command=Hangup&" + AUTH + "&CallId=nope").content)
    assert (missing.findtext("Code"), missing.findtext("Message")) == (
        "601", "Call not found with ID 'nope'")
    call = etree.fromstring(api.get("command=Call&" + AUTH + "&Dialled=100&Url=http://a/b")
                            .content)
    assert call.findtext("Code") == "402"
    assert (call.findtext("Message") or "").startswith(
        "Call connect to '100' failed with result state 'Failed'")


def test_rate_limit_is_shared_across_dialects(api: Api) -> None:
    api.services.users.add("across", "password1", {"sms"}, rate_limit_per_minute=2)
    ozeki = "command=SendSms&Username=across&Password=password1&Recipient=%2B3611&Message=x"
    assert [api.code(api.get(ozeki)) for _ in range(2)] == [200, 200]
    acrobits = requests.get(f"{api.base}/send_message/", timeout=10, params={
        "from": "across", "password": "password1", "sms_to": "+3611", "sms_body": "x"})
    assert acrobits.status_code == 429


def test_list_extensions_and_types_describe_the_configuration(
        make_settings: Callable[..., Settings]) -> None:
    """ListExtensions (docs/http-api.md's curl example) without a SIP side: dialplan
    numbers, the default script and SMS transports with their routes, credentials never."""
    from tests.integration.test_call_control import doc_example

    settings = make_settings(transports={"smsc": "smpp://user:secret@127.0.0.1:2775",
                                         "loopback": "loopback://"})
    settings.sip.dialplan = {"100": "ozml_scripts/menu.xml"}
    settings.sms.routes = {"+36": "smsc"}
    settings.http.port = 0
    services = Services(settings=settings, sms=build_sms_service(settings),
                        users=UserStore(user_store_path(settings.ivr.data_dir)))
    services.users.ensure_demo_user()
    server = serve_http(create_app(settings, services), "127.0.0.1", 0, threads=2)
    try:
        api = Api(server, services)
        query = doc_example("http-api.md", "extensions").split("?", 1)[1].rstrip("'")
        reply = api.get(query)
        assert "secret" not in reply.text
        root = etree.fromstring(reply.content)
        rows = [{child.tag: child.text or "" for child in item}
                for item in root.findall("Extensions/Extension")]
        assert {"Name": "100", "Type": "IVR", "Target": "ozml_scripts/menu.xml"} in rows
        assert {"Name": "smsc", "Type": "SMS", "Target": "smpp://127.0.0.1:2775",
                "Routes": "+36"} in rows
        assert rows[1]["Name"] == "*"
        types = etree.fromstring(api.get("command=ListExtensionTypes&" + AUTH).content)
        assert [t.findtext("Name") for t in types.findall("ExtensionTypes/ExtensionType")] \
            == ["IVR", "SIP", "SMS"]
    finally:
        server.stop()


def test_address_book_names_in_sendsms_and_the_list_commands(
        api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Contacts and named lists made with ``ivr contacts`` (docs/http-api.md's example);
    SendSms takes a list or contact name as Recipient, one message per member."""
    from ivr.cli import main as cli_main
    from tests.integration.test_call_control import doc_example

    config = tmp_path / "book.conf"
    config.write_text(f"[sms]\ndatabase_url = {api.services.settings.sms.database_url}\n")
    for line in doc_example("http-api.md", "address-book-cli").splitlines():
        assert cli_main([*line.split()[1:2], "--config", str(config),
                         *line.split()[2:]]) == 0, line
    assert "sales\t2" in capsys.readouterr().out
    assert cli_main(["contacts", "--config", str(config), "add", "carol", "not-a-number"]) == 2
    names = etree.fromstring(api.get("command=ListAddressbookNames&" + AUTH).content)
    assert [(b.findtext("Name"), b.findtext("ContactCount"))
            for b in names.findall("AddressbookNames/Addressbook")] == [("sales", "2")]
    members = etree.fromstring(api.get("command=ListAddressbookContacts&AddressbookName=sales&"
                                       + AUTH).content)
    assert [(c.findtext("Name"), c.findtext("Number"))
            for c in members.findall("Contacts/Contact")] == [("alice", "+3611111111"),
                                                             ("bob", "+3622222222")]
    sent = etree.fromstring(api.get("command=SendSms&Recipient=sales&Message=Hi&"
                                    + AUTH).content)
    assert sent.findtext("Code") == "200" and len(sent.findall("SmsId")) == 2
    one = etree.fromstring(api.get("command=SendSms&Recipient=alice&Message=Hi&" + AUTH).content)
    assert len(one.findall("SmsId")) == 1
    recipients = sorted(m.recipient for m in api.services.sms.query(MessageQuery())[0])
    assert recipients == ["+3611111111", "+3611111111", "+3622222222"]

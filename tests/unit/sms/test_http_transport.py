"""Templated HTTP transport, pure parts: placeholder escaping, URL/dict config, reply judging."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.errors import ConfigError
from ivr.sms.message import Direction, Message
from ivr.sms.transports.http import (
    ResponseRules,
    compile_template,
    config_from_url,
    from_dict,
    json_path,
    judge_response,
    parse_status_ranges,
)

VALUES = {"sms_to": "+1(555)123-1234", "sms_body": 'Hello "World" & <you>; 50%',
          "account[username]": "johndow", "account[password]": "p@ss word"}


def message(**kw: object) -> Message:
    fields: dict[str, object] = {"id": "m-1", "direction": Direction.OUTBOUND, "sender": "",
                                 "recipient": "+15551231234", "body": "Hello World"}
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("context,template,expected", [
    ("url", "https://example.com/send_message/?from=%account[username]%&to=%sms_to%",
     "https://example.com/send_message/?from=johndow&to=%2B1%28555%29123-1234"),
    ("form", "password=%account[password]%&body=%sms_body%",
     "password=p%40ss%20word&body=Hello%20%22World%22%20%26%20%3Cyou%3E%3B%2050%25"),
    ("json", '{ "to" : "%sms_to%", "body" : "%sms_body%" }',
     '{ "to" : "+1(555)123-1234", "body" : "Hello \\"World\\" & <you>; 50%" }'),
    ("json", '{"to": %sms_to%}', '{"to": "+1(555)123-1234"}'),
    ("xml", "<to>%sms_to%</to><b>%sms_body%</b>",
     "<to>+1(555)123-1234</to><b>Hello &quot;World&quot; &amp; &lt;you&gt;; 50%</b>"),
    ("raw", "%sms_to% %sms_body%", '+1(555)123-1234 Hello "World" & <you>; 50%'),
])
def test_placeholders_are_escaped_for_where_they_stand(context: str, template: str,
                                                       expected: str) -> None:
    assert compile_template(template, context).render(VALUES) == expected


def test_json_template_renders_valid_json_for_any_body() -> None:
    tpl = compile_template('{"from": "%account[username]%", "body": "%sms_body%", "n": 1}', "json")
    for body in ['a"b', "back\\slash", "line\nbreak", "tab\t", "\u00e9\U0001F600", "%sms_to%"]:
        document = json.loads(tpl.render({"sms_body": body, "account[username]": "u"}))
        assert document["body"] == body


def test_json_string_state_survives_escaped_quotes_in_literals() -> None:
    tpl = compile_template('{"a": "x\\"y", "b": %sms_to%, "c": "%sms_body%"}', "json")
    assert json.loads(tpl.render({"sms_to": "1", "sms_body": '"'})) == {
        "a": 'x"y', "b": "1", "c": '"'}


def test_unknown_placeholder_is_refused_at_build_time() -> None:
    with pytest.raises(ConfigError, match="%sms_text%"):
        compile_template("to=%sms_to%&text=%sms_text%", "url")


def test_percent_escapes_in_templates_are_left_alone() -> None:
    assert compile_template("a=%20b&c=%sms_to%", "url").render({"sms_to": "1"}) == "a=%20b&c=1"


@pytest.mark.parametrize("document,path,expected", [
    ({"data": {"id": "7"}}, "data.id", "7"),
    ({"data": [{"id": "7"}, {"id": "8"}]}, "data.id", "7"),
    ({"data": [{"id": "7"}, {"id": "8"}]}, "data.1.id", "8"),
    ({"responses": [{"code": "204"}]}, "responses.0.code", "204"),
    ({"a": 1}, "a.b", None),
    ([], "x", None),
])
def test_json_path(document: object, path: str, expected: object) -> None:
    assert json_path(document, path) == expected


def test_status_ranges() -> None:
    assert parse_status_ranges("408, 500-502") == frozenset({408, 500, 501, 502})
    with pytest.raises(ConfigError, match="tempfail_status"):
        parse_status_ranges("5xx")


RULES = ResponseRules(id_json_path="sms_id")


@pytest.mark.parametrize("status,body,ok,retryable,error,provider_id", [
    (200, '{ "sms_id" : "12456" }', True, False, "", "12456"),
    (200, "", True, False, "", ""),
    (406, '{ "message" : "Invalid recipient" }', False, False, "Invalid recipient", ""),
    (402, "Not enough credit", False, False, "Not enough credit", ""),
    (500, "x" * 300, False, True, "x" * 100, ""),
    (503, "", False, True, "HTTP 503", ""),
    (429, "{}", False, True, "{}", ""),
])
def test_judge_acrobits_rules(status: int, body: str, ok: bool, retryable: bool, error: str,
                              provider_id: str) -> None:
    verdict = judge_response(status, body, RULES)
    assert (verdict.ok, verdict.retryable, verdict.error, verdict.provider_id) == (
        ok, retryable, error, provider_id)


def test_kannel_style_regexes_win_over_status() -> None:
    rules = ResponseRules(permfail_regex="^ERR: no credit", tempfail_regex="^ERR: busy",
                          success_regex=r"^OK (\d+)", id_regex=r"^OK (\d+)")
    assert not judge_response(200, "ERR: no credit", rules).retryable
    assert judge_response(200, "ERR: busy", rules).retryable
    assert judge_response(200, "OK 42", rules).provider_id == "42"
    unknown = judge_response(200, "WHAT?", rules)
    assert not unknown.ok and not unknown.retryable and unknown.error == "WHAT?"


def test_success_json_and_error_paths() -> None:
    rules = ResponseRules(success_json="responses.0.code=204",
                          error_json_paths=("responses.0.message",))
    assert judge_response(200, '{"responses":[{"code":"204","key":"","message":"OK"}]}',
                          rules).ok
    bad = judge_response(200, '{"responses":[{"code":"400","key":"cnumber","message":"bad"}]}',
                         rules)
    assert (bad.ok, bad.retryable, bad.error) == (False, False, "bad")


def test_plain_url_is_a_get_template_with_fragment_options() -> None:
    cfg = config_from_url(
        "gw", "https://johndow:12%2534@example.com/send_message/?from=%account[username]%"
              "&password=%account[password]%&to=%sms_to%&body=%sms_body%#timeout=7&sender=Ivr")
    assert cfg.method == "GET" and cfg.body is None and cfg.timeout == 7.0
    assert cfg.password == "12%34" and cfg.sender == "Ivr"
    assert cfg.log_url == "https://example.com/send_message/"
    url = cfg.url.render({"account[username]": "johndow", "account[password]": "12%34",
                          "sms_to": "+15551231234", "sms_body": "Hello World"})
    assert url == ("https://example.com/send_message/?from=johndow&password=12%2534"
                   "&to=%2B15551231234&body=Hello%20World")


@pytest.mark.parametrize("url,expected_url", [
    ("http+jsonapi://LOGIN:PASSWORD@sms.example.com",
     "http://sms.example.com/api/message?_login=LOGIN&_password=PASSWORD"
     "&destination_number=%2B15551231234&body=Hello%20World&require_dlr=1&source_number="
     "&request_id=m-1"),
    ("https+enswitch://user:password@enswitch.example.com?stype=phone&sender=1234567",
     "https://enswitch.example.com/api/json/messages/text/send/?auth_username=user"
     ";auth_password=password;stype=phone;snumber=1234567;cnumber=%2B15551231234"
     ";message=Hello%20World"),
    ("http+restcomm://AC1:tok@cpaas.example.com/restcomm",
     "http://cpaas.example.com/restcomm/2012-04-24/Accounts/AC1/SMS/Messages.json"),
    ("http+restcomm://AC1:tok@cpaas.example.com",
     "http://cpaas.example.com/api/2012-04-24/Accounts/AC1/SMS/Messages.json"),
    ("http+acrobits-generic://johndow:12345678@example.com",
     "http://example.com/send_message/"),
])
def test_presets_need_only_credentials(url: str, expected_url: str) -> None:
    cfg = config_from_url("p", url)
    values = {"sms_to": "+15551231234", "sms_body": "Hello World", "sms_id": "m-1",
              "require_dlr": "1", "sms_from": cfg.sender, "stype": cfg.stype,
              "account[username]": cfg.username, "account[password]": cfg.password}
    assert cfg.url.render(values) == expected_url


def test_restcomm_preset_points_status_callback_at_our_dlr_endpoint() -> None:
    transport = from_dict("cpaas", {"preset": "restcomm", "base_url": "http://h/api",
                                    "username": "AC1", "password": "t", "sender": "1987"},
                          public_url="https://ivr.example.org:9509/")
    cfg = transport.config
    assert cfg.basic_auth and cfg.method == "POST"
    assert cfg.dlr_url == "https://ivr.example.org:9509/dlr/restcomm/cpaas"
    with_token = from_dict("cpaas", {"preset": "restcomm", "base_url": "http://h/api",
                                     "username": "AC1", "password": "t", "sender": "1987"},
                           public_url="https://ivr.example.org:9509/", dlr_token="abc")
    assert with_token.config.dlr_url == \
        "https://ivr.example.org:9509/dlr/restcomm/cpaas?token=abc"
    body = cfg.body.render(transport.values_for(message())) if cfg.body else ""
    assert body == ("From=1987&To=%2B15551231234&Body=Hello%20World&StatusCallback="
                    "https%3A%2F%2Fivr.example.org%3A9509%2Fdlr%2Frestcomm%2Fcpaas")


@pytest.mark.parametrize("options,match", [
    ({"send_url": "ftp://x/"}, "absolute http"),
    ({"send_url": "http://x/", "method": "DELETE"}, "method"),
    ({"send_url": "http://x/", "bogus": "1"}, "unknown option 'bogus'"),
    ({"preset": "nope"}, "unknown preset"),
    ({"preset": "jsonapi"}, "base_url"),
    ({"send_url": "http://x/", "success_regex": "("}, "success_regex"),
    ({"send_url": "http://x/", "timeout": "soon"}, "timeout"),
])
def test_bad_configuration_names_the_option(options: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_dict("t", options)


def test_bad_urls() -> None:
    with pytest.raises(ConfigError, match="scheme"):
        config_from_url("t", "smpp://a@b")
    with pytest.raises(ConfigError, match="unknown preset"):
        config_from_url("t", "http+foo://a@b")


@given(st.text(), st.text())
def test_form_and_url_rendering_round_trips(to: str, body: str) -> None:
    form = compile_template("to=%sms_to%&body=%sms_body%", "form").render(
        {"sms_to": to, "sms_body": body})
    assert dict(parse_qsl(form, keep_blank_values=True)) == {"to": to, "body": body}
    url = compile_template("http://h/p/%sms_to%?b=%sms_body%", "url").render(
        {"sms_to": to, "sms_body": body})
    split = urlsplit(url)
    assert unquote(split.path.removeprefix("/p/")) == to
    assert dict(parse_qsl(split.query, keep_blank_values=True)) == {"b": body}


@given(st.text())
def test_json_rendering_round_trips(body: str) -> None:
    tpl = compile_template('{"a": "%sms_body%", "b": %sms_body%}', "json")
    assert json.loads(tpl.render({"sms_body": body})) == {"a": body, "b": body}

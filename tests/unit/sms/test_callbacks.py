"""Callback URL building, signing and the allow/deny policy (pure parts of callbacks.py)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.sms.callbacks import UrlPolicy, endpoint_of, sign, with_query


@pytest.mark.parametrize(("url", "params", "expected"), [
    ("http://a.example/dlr", {"SmsId": "1"}, "http://a.example/dlr?SmsId=1"),
    ("http://a.example/dlr?app=7", {"SmsId": "1"}, "http://a.example/dlr?app=7&SmsId=1"),
    ("http://a.example/dlr?", {"x": "a b&c"}, "http://a.example/dlr?x=a+b%26c"),
    ("http://a.example/p?flag", {"s": "+36"}, "http://a.example/p?flag=&s=%2B36"),
    ("http://a.example/p#frag", {"s": "1"}, "http://a.example/p?s=1#frag"),
])
def test_with_query_appends_to_existing_query(url: str, params: dict[str, str],
                                              expected: str) -> None:
    assert with_query(url, params) == expected


def test_signature_is_hmac_sha256_over_method_url_body() -> None:
    key = b"k" * 32
    expected = hmac.new(key, b"POST\nhttp://h/x\nSmsId=1", hashlib.sha256).hexdigest()
    assert sign(key, "POST", "http://h/x", b"SmsId=1") == f"sha256={expected}"
    assert sign(key, "GET", "http://h/x", b"") != sign(key, "GET", "http://h/y", b"")


DEFAULT = UrlPolicy([], ["169.254.0.0/16", "fe80::/10"])


@pytest.mark.parametrize(("url", "allowed"), [
    ("http://127.0.0.1:9/dlr", True),                 # loopback is allowed by default
    ("http://[::1]:9/dlr", True),
    ("http://169.254.169.254/latest/meta-data/", False),  # cloud metadata
    ("http://[fe80::1]/x", False),
    ("ftp://127.0.0.1/x", False),
    ("javascript:alert(1)", False),
    ("http:///nohost", False),
])
def test_default_policy(url: str, allowed: bool) -> None:
    assert (DEFAULT.check(url) == "") is allowed


def test_allow_list_wins_and_deny_by_name() -> None:
    policy = UrlPolicy(["169.254.10.0/24"], ["169.254.0.0/16", "localhost", "127.0.0.0/8"])
    assert policy.check("http://169.254.10.5/x") == ""
    assert "denied" in policy.check("http://169.254.11.5/x")
    assert "denied" in policy.check("http://localhost/x")
    assert "denied" in policy.check("http://127.0.0.2/x")


@given(st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str)),
       st.one_of(st.none(), st.integers(1, 65535)), st.sampled_from(["http", "https"]),
       st.one_of(st.just(""), st.just("user:pa%40ss@")))
def test_endpoint_of_ip_literals(address: str, port: int | None, scheme: str,
                                 userinfo: str) -> None:
    host = f"[{address}]" if ":" in address else address
    netloc = userinfo + host + (f":{port}" if port is not None else "")
    assert endpoint_of(urlsplit(f"{scheme}://{netloc}/dlr?x=1")) == (
        address.lower(), port if port is not None else (443 if scheme == "https" else 80))


@given(st.from_regex(r"[a-z0-9\u00e9\u00fc\u4e2d-]{1,20}(\.[a-z\u00e9]{2,6}){1,2}",
                     fullmatch=True))
def test_endpoint_of_names_idn_included(name: str) -> None:
    host, port = endpoint_of(urlsplit(f"http://{name}:8080/x"))
    assert (host, port) == (name.lower(), 8080)


@pytest.mark.parametrize("url", ["http:///nohost", "http://h:70000/", "http://[::1]:x/"])
def test_endpoint_of_refuses_what_cannot_be_connected_to(url: str) -> None:
    with pytest.raises(ValueError):
        endpoint_of(urlsplit(url))

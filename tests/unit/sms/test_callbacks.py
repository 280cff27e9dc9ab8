"""Callback URL building, signing and the allow/deny policy (pure parts of callbacks.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ivr.sms.callbacks import UrlPolicy, sign, with_query


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

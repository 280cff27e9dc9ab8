"""Enswitch dialect, pure parts: ';'/'&' splitting, required keys, attachments."""

from __future__ import annotations

import base64

import pytest

from ivr.api.enswitch import (
    MAX_ATTACHMENT_BYTES,
    EnswitchError,
    parse_send_request,
    split_params,
)

EXAMPLE = ("auth_username=user;auth_password=password;stype=;snumber=2125550000;"
           "cnumber=2125551234;message=This%20is%20an%example%20message")


def test_document_example_parses_with_its_broken_escape_kept() -> None:
    send = parse_send_request(split_params(EXAMPLE))
    assert (send.username, send.password, send.stype, send.snumber, send.cnumber) == (
        "user", "password", "", "2125550000", "2125551234")
    assert send.message == "This is an%example message"


def test_ampersand_and_mixed_separators() -> None:
    assert split_params("a=1&b=2;c=x+y") == [("a", "1"), ("b", "2"), ("c", "x y")]


@pytest.mark.parametrize("drop,key", [("cnumber", "cnumber"), ("message", "message"),
                                      ("snumber", "snumber")])
def test_missing_field_is_400_with_key(drop: str, key: str) -> None:
    pairs = [p for p in split_params(EXAMPLE) if p[0] != drop]
    with pytest.raises(EnswitchError) as info:
        parse_send_request(pairs)
    assert (info.value.code, info.value.key) == ("400", key)


def test_missing_auth_is_401_and_bad_stype_400() -> None:
    with pytest.raises(EnswitchError) as info:
        parse_send_request(split_params("cnumber=1;message=m;snumber=2"))
    assert info.value.code == "401"
    with pytest.raises(EnswitchError) as info:
        parse_send_request(split_params(EXAMPLE.replace("stype=", "stype=fax")))
    assert (info.value.code, info.value.key) == ("400", "stype")


def test_attachments() -> None:
    ok = split_params(EXAMPLE) + [("filename1", "a.txt"),
                                  ("file1", base64.b64encode(b"\x00\xffhi").decode()),
                                  ("filename2", "b.bin"), ("file2", "aGk=")]
    assert parse_send_request(ok).attachments == (("a.txt", b"\x00\xffhi"), ("b.bin", b"hi"))
    cases = [
        ([("filename1", "a"), ("file1", "***")], "file1"),
        ([("filename2", "a"), ("file2", "aGk=")], "file2"),
        ([("file1", "aGk=")], "filename1"),
        ([("filename1", "a"), ("file1", base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES + 1))
                                .decode())], "file1"),
    ]
    for extra, key in cases:
        with pytest.raises(EnswitchError) as info:
            parse_send_request(split_params(EXAMPLE) + extra)
        assert (info.value.code, info.value.key) == ("400", key), extra

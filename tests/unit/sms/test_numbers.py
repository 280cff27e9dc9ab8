"""Number and sender normalisation."""

from __future__ import annotations

import pytest

from ivr.errors import ValidationError
from ivr.sms.numbers import normalize_number, normalize_sender


@pytest.mark.parametrize(("raw", "expected"), [
    ("+1(555)123-1234", "+15551231234"), ("+0615546670", "+0615546670"),
    ("0036 20 123 4567", "+36201234567"), ("06-20/123.4567", "06201234567"),
    (" +44 7700 900123 ", "+447700900123"), ("12", "12")])
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "+12", "+1234567890123456", "1", "+1555-CALL",
                                 "٣٣٣٣٣"])
def test_invalid_numbers_name_the_parameter(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_number(raw, "To")
    assert info.value.param == "To"


@pytest.mark.parametrize(("raw", "expected"), [
    ("", ""), ("MyShop", "MyShop"), ("+36 1 234 5678", "+3612345678"), ("Shop 24", "Shop 24")])
def test_sender(raw: str, expected: str) -> None:
    assert normalize_sender(raw) == expected


@pytest.mark.parametrize("raw", ["TwelveChars1", "Shop<>", "Ünïcode"])
def test_bad_alphanumeric_sender(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_sender(raw)
    assert info.value.param == "Sender"

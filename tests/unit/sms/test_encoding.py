"""GSM 03.38 / UCS-2 encoding, splitting and septet packing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    choose_encoding,
    gsm7_decode,
    gsm7_encode,
    gsm7_length,
    pack_septets,
    split_message,
    unpack_septets,
)

GSM_CHARS = [c for i, c in enumerate(GSM7_BASIC) if i != 0x1B] + list(GSM7_EXTENSION)


@pytest.mark.parametrize(("text", "encoding", "counts"), [
    ("", "gsm7", [0]),
    ("a" * 160, "gsm7", [160]),
    ("a" * 161, "gsm7", [153, 8]),
    ("€" * 80, "gsm7", [80]),                  # 160 septets: still one part
    ("€" * 81, "gsm7", [76, 5]),               # escapes never split: 76*2 = 152 <= 153
    ("a" * 152 + "€" + "b" * 10, "gsm7", [152, 11]),  # the € would straddle 153
    ("ő" * 70, "ucs2", [70]),
    ("ő" * 71, "ucs2", [67, 4]),
    ("😀" * 35, "ucs2", [35]),                 # 70 code units
    ("a" * 66 + "😀" + "b" * 5, "ucs2", [66, 6]),  # surrogate pair kept together
])
def test_split(text: str, encoding: str, counts: list[int]) -> None:
    segmented = split_message(text)
    assert segmented.encoding == encoding
    assert [len(p) for p in segmented.parts] == counts
    assert "".join(segmented.parts) == text
    assert segmented.count == len(counts)


def test_choose_encoding() -> None:
    assert choose_encoding("Hello [world] €5 @ Ünïcode?") == "ucs2"  # ï is not GSM
    assert choose_encoding("Hello [world] €5 @ Ü") == "gsm7"
    assert choose_encoding("Ça va? ñ ß") == "gsm7"


def test_known_encoding_and_packing() -> None:
    # TS 23.038 example: "hellohello" packs to E8329BFD4697D9EC37
    assert pack_septets(gsm7_encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"
    assert gsm7_encode("{") == bytes([0x1B, 0x28])
    assert gsm7_length("a{b") == 4
    with pytest.raises(ValueError):
        gsm7_encode("ő")


@given(st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=400))
def test_gsm7_round_trip(text: str) -> None:
    septets = gsm7_encode(text)
    assert gsm7_decode(septets) == text
    for fill in range(7):
        assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


@given(st.text(max_size=500))
def test_split_never_exceeds_limits_and_keeps_text(text: str) -> None:
    segmented = split_message(text)
    assert "".join(segmented.parts) == text
    if segmented.encoding == "gsm7":
        sizes = [gsm7_length(p) for p in segmented.parts]
        limit = 160 if len(sizes) == 1 else 153
    else:
        sizes = [len(p.encode("utf-16-be")) // 2 for p in segmented.parts]
        limit = 70 if len(sizes) == 1 else 67
        for part in segmented.parts:
            part.encode("utf-16-be")  # no lone surrogate halves
    assert max(sizes) <= limit

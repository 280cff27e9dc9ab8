"""GSM 03.38 / UCS-2 text encoding and splitting into concatenated parts. Pure.

3GPP TS 23.038 §6.2.1: the default alphabet (128 septets) and its extension table (reached
with ESC 0x1B; each extension character costs two septets). Text that does not fit goes as
UCS-2 (UTF-16BE, astral characters as surrogate pairs).
Limits (TS 23.040 §9.2.3.24.1, 6-octet concatenation UDH): 160 septets in one part, 153 per
part when concatenated; UCS-2 70 and 67 code units. A part never ends inside an escape
sequence or between the two halves of a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GSM7_BASIC", "GSM7_EXTENSION", "Segmented", "choose_encoding", "gsm7_length",
    "split_message", "gsm7_encode", "gsm7_decode", "pack_septets", "unpack_septets",
    "ucs2_units",
]

ESC = 0x1B
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C,
                  "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != ESC}
_EXTENSION_CHAR = {code: ch for ch, code in GSM7_EXTENSION.items()}
LIMITS = {"gsm7": (160, 153), "ucs2": (70, 67)}


@dataclass(frozen=True)
class Segmented:
    encoding: str          # "gsm7" | "ucs2"
    parts: list[str]       # the text of each part, in order

    @property
    def count(self) -> int:
        return len(self.parts)


def _cost(ch: str) -> int | None:
    if ch in _BASIC_INDEX:
        return 1
    if ch in GSM7_EXTENSION:
        return 2
    return None


def choose_encoding(text: str) -> str:
    return "gsm7" if all(_cost(ch) is not None for ch in text) else "ucs2"


def gsm7_length(text: str) -> int:
    """Septets needed for ``text`` (extension characters count two)."""
    total = 0
    for ch in text:
        cost = _cost(ch)
        if cost is None:
            raise ValueError(f"{ch!r} is not in the GSM 7-bit alphabet")
        total += cost
    return total


def ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def split_message(text: str, encoding: str | None = None) -> Segmented:
    encoding = encoding or choose_encoding(text)
    if encoding not in LIMITS:
        raise ValueError(f"unknown encoding {encoding!r}")
    cost = (lambda ch: _cost(ch) or 0) if encoding == "gsm7" else ucs2_units
    if encoding == "gsm7":
        gsm7_length(text)  # raises for characters outside the alphabet
    single, multi = LIMITS[encoding]
    if sum(cost(ch) for ch in text) <= single:
        return Segmented(encoding, [text])
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:  # a character (escape pair / surrogate pair) is never split
        size = cost(ch)
        if used + size > multi:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    parts.append("".join(current))
    return Segmented(encoding, parts)


def gsm7_encode(text: str) -> bytes:
    """Unpacked septets, one per byte (extension characters as ESC + code)."""
    out = bytearray()
    for ch in text:
        if ch in _BASIC_INDEX:
            out.append(_BASIC_INDEX[ch])
        elif ch in GSM7_EXTENSION:
            out += bytes((ESC, GSM7_EXTENSION[ch]))
        else:
            raise ValueError(f"{ch!r} is not in the GSM 7-bit alphabet")
    return bytes(out)


def gsm7_decode(septets: bytes) -> str:
    out: list[str] = []
    escape = False
    for value in septets:
        if escape:
            # TS 23.038: an unknown extension code shows the basic character (space for ESC).
            out.append(_EXTENSION_CHAR.get(value, " " if value == ESC else GSM7_BASIC[value]))
            escape = False
        elif value == ESC:
            escape = True
        else:
            out.append(GSM7_BASIC[value & 0x7F])
    return "".join(out)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack 7-bit values into octets, after ``fill_bits`` zero bits (UDH alignment)."""
    value, bits = 0, fill_bits
    out = bytearray()
    for septet in septets:
        value |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(value & 0xFF)
            value >>= 8
            bits -= 8
    if bits:
        out.append(value & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))

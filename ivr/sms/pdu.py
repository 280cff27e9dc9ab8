"""SMS PDU codec (3GPP TS 23.040 §9.2): SMS-SUBMIT encode, SMS-DELIVER / SMS-STATUS-REPORT /
SMS-SUBMIT decode. Pure: hex strings in, values out; no I/O.

The modem's AT+CMGS=<length> wants the TPDU length, i.e. the PDU octets *after* the SMSC
address field (TS 27.005 §3.5.1), which is why :class:`SubmitPdu` carries both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ivr.sms.encoding import (
    gsm7_decode,
    gsm7_encode,
    pack_septets,
    split_message,
    unpack_septets,
)
from ivr.sms.message import Status

__all__ = [
    "PduError", "SubmitPdu", "Concat", "Deliver", "Submit", "StatusReport",
    "encode_submit", "encode_submit_parts", "decode_deliver", "decode_submit",
    "decode_status_report", "decode_pdu", "status_from_tp_st", "error_code_from_tp_st",
    "encode_address", "decode_timestamp", "validity_octet", "encode_deliver",
    "encode_status_report",
]

# First-octet bits, TS 23.040 §9.2.3.1-9.2.3.5, 9.2.3.23.
MTI_DELIVER, MTI_SUBMIT, MTI_STATUS_REPORT = 0x00, 0x01, 0x02
TP_VPF_RELATIVE = 0x10
TP_SRR = 0x20          # SUBMIT: status report requested
TP_UDHI = 0x40
PID_TYPE0 = 0x40       # §9.2.3.9: "Short Message Type 0", acknowledged but not shown/stored
DCS_GSM7, DCS_UCS2 = 0x00, 0x08
TOA_INTERNATIONAL, TOA_UNKNOWN, TOA_ALPHANUMERIC = 0x91, 0x81, 0xD0


class PduError(ValueError):
    """A PDU that cannot be decoded; ``offset`` is the octet where decoding stopped."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(f"octet {offset}: {message}")
        self.offset = offset


@dataclass(frozen=True)
class SubmitPdu:
    hex: str            # full PDU including the (empty) SMSC field, upper-case hex
    tpdu_length: int    # the number for AT+CMGS=<n>: octets excluding the SMSC field


@dataclass(frozen=True)
class Concat:
    """Concatenation IE (IEI 0x00 8-bit or 0x08 16-bit reference, §9.2.3.24.1/.8)."""

    reference: int
    total: int
    sequence: int      # 1-based


@dataclass(frozen=True)
class Deliver:
    smsc: str
    sender: str
    text: str
    timestamp: dt.datetime | None
    pid: int
    dcs: int
    concat: Concat | None = None


@dataclass(frozen=True)
class Submit:
    reference: int
    recipient: str
    text: str
    pid: int
    dcs: int
    status_report: bool
    validity: int | None
    concat: Concat | None = None


@dataclass(frozen=True)
class StatusReport:
    smsc: str
    reference: int          # TP-MR of the SUBMIT this report is about
    recipient: str
    timestamp: dt.datetime | None      # TP-SCTS: when the SC received the SUBMIT
    discharge: dt.datetime | None      # TP-DT: delivery (or last attempt) time
    tp_status: int
    status: Status
    error_code: int | None


# ---------------------------------------------------------------- addresses, times

def _swap_digits(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def _unswap_digits(data: bytes, count: int) -> str:
    text = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in data)[:count]
    # §9.1.2.3 BCD extension: A='*', B='#', C='a', D='b', E='c'
    return text.translate(str.maketrans("ABCDE", "*#abc"))


def encode_address(number: str) -> bytes:
    """TP-DA/TP-OA (§9.1.2.5): digit count, type of address, swapped BCD."""
    international = number.startswith("+")
    digits = number.lstrip("+")
    if not digits or not all(c in "0123456789*#" for c in digits):
        raise PduError(f"recipient {number!r} is not a dialable number")
    bcd = digits.replace("*", "A").replace("#", "B")
    toa = TOA_INTERNATIONAL if international else TOA_UNKNOWN
    return bytes((len(digits), toa)) + _swap_digits(bcd)


def _decode_address(data: bytes, pos: int) -> tuple[str, int]:
    if pos + 2 > len(data):
        raise PduError("address truncated", pos)
    count, toa = data[pos], data[pos + 1]
    octets = (count + 1) // 2
    body = data[pos + 2:pos + 2 + octets]
    if len(body) < octets:
        raise PduError("address digits truncated", pos)
    if toa & 0x70 == 0x50:  # alphanumeric, GSM 7-bit packed (§9.1.2.5)
        text = gsm7_decode(unpack_septets(body, count * 4 // 7))
    else:
        text = _unswap_digits(body, count)
        if toa & 0x70 == 0x10:
            text = "+" + text
    return text, pos + 2 + octets


def _decode_smsc(data: bytes) -> tuple[str, int]:
    """SMSC field as AT+CMGR shows it: length in octets (incl. TOA), then the number."""
    length = data[0]
    if length == 0:
        return "", 1
    if length + 1 > len(data) or length > 11:     # TS 24.011 §8.2.5.1: at most 12 octets
        raise PduError(f"SMSC field length {length} runs past the PDU", 0)
    toa = data[1]
    digits = _unswap_digits(data[2:1 + length], (length - 1) * 2).rstrip("F")
    return ("+" if toa & 0x70 == 0x10 else "") + digits, 1 + length


def decode_timestamp(data: bytes) -> dt.datetime:
    """TP-SCTS / TP-DT (§9.2.3.11): seven swapped-BCD octets, zone in quarter hours."""
    if len(data) != 7:
        raise PduError("timestamp needs 7 octets")
    year, month, day, hour, minute, second = (
        (b & 0x0F) * 10 + (b >> 4) for b in data[:6])
    tz = data[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)   # bit 3 of the first semi-octet is the sign
    offset = dt.timedelta(minutes=15 * quarters)
    if tz & 0x08:
        offset = -offset
    try:
        return dt.datetime(2000 + year, month, day, hour, minute, second,
                           tzinfo=dt.timezone(offset))
    except ValueError as exc:
        raise PduError(f"bad timestamp: {exc}") from None


def _encode_timestamp(when: dt.datetime) -> bytes:
    offset = when.utcoffset() or dt.timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    values = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    out = bytes(((v % 10) << 4) | (v // 10) for v in values)
    tz = ((quarters % 10) << 4) | (quarters // 10) | (0x08 if offset < dt.timedelta(0) else 0)
    return out + bytes((tz,))


def validity_octet(minutes: int) -> int:
    """Relative TP-VP (§9.2.3.12.1), rounded up to the next representable period."""
    if minutes <= 0:
        raise PduError("validity must be positive")
    if minutes <= 720:
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 1440:
        return 143 + -(-(minutes - 720) // 30)
    days = -(-minutes // 1440)
    if days <= 30:
        return 166 + days
    return min(255, 192 + -(-days // 7))


def _validity_minutes(octet: int) -> int:
    if octet <= 143:
        return (octet + 1) * 5
    if octet <= 167:
        return 720 + (octet - 143) * 30
    if octet <= 196:
        return (octet - 166) * 1440
    return (octet - 192) * 7 * 1440


# ---------------------------------------------------------------- user data

def _concat_udh(concat: Concat) -> bytes:
    # 8-bit reference IE: IEI 00, length 03, ref, total, seq (§9.2.3.24.1)
    return bytes((0x05, 0x00, 0x03, concat.reference & 0xFF, concat.total, concat.sequence))


def _user_data(text: str, encoding: str, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD). For GSM 7-bit, UDL counts septets incl. the header and its fill bits."""
    if encoding == "gsm7":
        septets = gsm7_encode(text)
        fill = (7 - (len(udh) * 8) % 7) % 7      # §9.2.3.24: text starts on a septet boundary
        header_septets = (len(udh) * 8 + fill) // 7
        return header_septets + len(septets), udh + pack_septets(septets, fill)
    payload = text.encode("utf-16-be")
    return len(udh) + len(payload), udh + payload


def parse_udh(udh: bytes) -> Concat | None:
    """The concatenation IE of a user data header (without its length octet)."""
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2:pos + 2 + length]
        if iei == 0x00 and length == 3:
            return Concat(value[0], value[1], value[2])
        if iei == 0x08 and length == 4:
            return Concat(int.from_bytes(value[:2], "big"), value[2], value[3])
        pos += 2 + length
    return None


def _alphabet(dcs: int) -> str:
    """TS 23.038 §4: general coding groups 00xx and 01xx, and data coding group 1111."""
    group = dcs >> 4
    if group <= 0x07:
        return {0: "gsm7", 1: "8bit", 2: "ucs2"}.get((dcs >> 2) & 0x03, "8bit")
    if group == 0x0F:
        return "8bit" if dcs & 0x04 else "gsm7"
    if group in (0x0C, 0x0D):
        return "gsm7"
    if group == 0x0E:
        return "ucs2"
    return "8bit"


def _decode_user_data(data: bytes, pos: int, dcs: int, udhi: bool) -> tuple[str, Concat | None]:
    if pos >= len(data):
        raise PduError("user data length missing", pos)
    udl = data[pos]
    ud = data[pos + 1:]
    alphabet = _alphabet(dcs)
    udh = b""
    if udhi:
        if not ud:
            raise PduError("UDHI set but no header", pos + 1)
        udh = ud[:1 + ud[0]]
    concat = parse_udh(udh[1:]) if udh else None
    if alphabet == "gsm7":
        fill = (7 - (len(udh) * 8) % 7) % 7
        header_septets = (len(udh) * 8 + fill) // 7
        count = udl - header_septets
        if count < 0 or (udl * 7 + 7) // 8 > len(ud):
            raise PduError(f"user data shorter than TP-UDL {udl}", pos)
        text = gsm7_decode(unpack_septets(ud[len(udh):], count, fill))
    else:
        if udl > len(ud):
            raise PduError(f"user data shorter than TP-UDL {udl}", pos)
        body = ud[len(udh):udl]
        text = (body.decode("utf-16-be", errors="replace") if alphabet == "ucs2"
                else body.hex())
    return text, concat


# ---------------------------------------------------------------- SMS-SUBMIT

def encode_submit(recipient: str, text: str, *, encoding: str = "gsm7",
                  concat: Concat | None = None, status_report: bool = True,
                  validity_minutes: int | None = 1440, silent: bool = False,
                  reference: int = 0) -> SubmitPdu:
    """One SMS-SUBMIT for one part. ``reference`` is TP-MR; modems replace 0 with their own."""
    udh = _concat_udh(concat) if concat else b""
    first = MTI_SUBMIT
    if validity_minutes is not None:
        first |= TP_VPF_RELATIVE
    if status_report:
        first |= TP_SRR
    if udh:
        first |= TP_UDHI
    udl, ud = _user_data(text, encoding, udh)
    limit = 160 if encoding == "gsm7" else 140
    if udl > limit:
        raise PduError(f"part too long for one SMS ({udl} > {limit})")
    tpdu = bytearray((first, reference & 0xFF))
    tpdu += encode_address(recipient)
    tpdu += bytes((PID_TYPE0 if silent else 0x00, DCS_GSM7 if encoding == "gsm7" else DCS_UCS2))
    if validity_minutes is not None:
        tpdu.append(validity_octet(validity_minutes))
    tpdu.append(udl)
    tpdu += ud
    return SubmitPdu(hex=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu))


def encode_submit_parts(recipient: str, text: str, *, concat_reference: int = 0,
                        encoding: str | None = None, status_report: bool = True,
                        validity_minutes: int | None = 1440,
                        silent: bool = False) -> list[SubmitPdu]:
    """Split ``text`` (GSM 7-bit if it fits, else UCS-2) and encode one SUBMIT per part."""
    segmented = split_message(text, encoding)
    total = segmented.count
    if total > 255:
        raise PduError(f"{total} parts exceed the 255 a concatenation header can carry")
    return [
        encode_submit(recipient, part, encoding=segmented.encoding,
                      concat=Concat(concat_reference & 0xFF, total, i + 1) if total > 1 else None,
                      status_report=status_report, validity_minutes=validity_minutes,
                      silent=silent)
        for i, part in enumerate(segmented.parts)
    ]


def _bytes(pdu_hex: str) -> bytes:
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise PduError("not hexadecimal") from None
    if not data:
        raise PduError("empty PDU")
    return data


def _first_octet(data: bytes, pos: int, mti: int, kind: str) -> int:
    """The TPDU's first octet, after checking its message type (TP-MTI) is ``kind``'s."""
    first = data[pos]
    if first & 0x03 != mti:
        raise PduError(f"not an {kind} (first octet {first:02X})", pos)
    return first


def decode_submit(pdu_hex: str, *, has_smsc: bool = True) -> Submit:
    """Decode an SMS-SUBMIT (the simulator uses this to see what a driver sent)."""
    data = _bytes(pdu_hex)
    pos = _decode_smsc(data)[1] if has_smsc else 0
    try:
        first = _first_octet(data, pos, MTI_SUBMIT, "SMS-SUBMIT")
        mr = data[pos + 1]
        recipient, pos = _decode_address(data, pos + 2)
        pid, dcs = data[pos], data[pos + 1]
        pos += 2
        vpf = (first >> 3) & 0x03
        validity = None
        if vpf == 2:
            validity = _validity_minutes(data[pos])
            pos += 1
        elif vpf in (1, 3):
            pos += 7
        text, concat = _decode_user_data(data, pos, dcs, bool(first & TP_UDHI))
    except IndexError:
        raise PduError("SMS-SUBMIT truncated", len(data)) from None
    return Submit(mr, recipient, text, pid, dcs, bool(first & TP_SRR), validity, concat)


# ---------------------------------------------------------------- SMS-DELIVER

def decode_deliver(pdu_hex: str) -> Deliver:
    """Decode an SMS-DELIVER as AT+CMGR / +CMT show it (with the SMSC field)."""
    data = _bytes(pdu_hex)
    smsc, pos = _decode_smsc(data)
    try:
        first = _first_octet(data, pos, MTI_DELIVER, "SMS-DELIVER")
        sender, pos = _decode_address(data, pos + 1)
        pid, dcs = data[pos], data[pos + 1]
        timestamp = decode_timestamp(data[pos + 2:pos + 9])
        text, concat = _decode_user_data(data, pos + 9, dcs, bool(first & TP_UDHI))
    except IndexError:
        raise PduError("SMS-DELIVER truncated", len(data)) from None
    return Deliver(smsc, sender, text, timestamp, pid, dcs, concat)


def encode_deliver(sender: str, text: str, timestamp: dt.datetime, *,
                   encoding: str | None = None, smsc: str = "",
                   concat: Concat | None = None) -> str:
    """An SMS-DELIVER (one part), as a simulator hands it to AT+CMGR. Returns hex."""
    encoding = encoding or split_message(text).encoding
    udh = _concat_udh(concat) if concat else b""
    udl, ud = _user_data(text, encoding, udh)
    smsc_field = b"\x00"
    if smsc:
        addr = encode_address(smsc)
        smsc_field = bytes((len(addr) - 1,)) + addr[1:]
    # 0x04: TP-MMS (no more messages waiting); 0x40: TP-UDHI
    tpdu = bytes((0x04 | (TP_UDHI if udh else 0),)) + encode_address(sender)
    tpdu += bytes((0x00, DCS_GSM7 if encoding == "gsm7" else DCS_UCS2))
    tpdu += _encode_timestamp(timestamp) + bytes((udl,)) + ud
    return (smsc_field + tpdu).hex().upper()


# ---------------------------------------------------------------- SMS-STATUS-REPORT

def status_from_tp_st(tp_status: int) -> Status:
    """TP-ST (§9.2.3.15): 0x00-0x1F completed, 0x20-0x3F SC still trying, 0x40+ given up."""
    if tp_status <= 0x1F:
        return Status.DELIVERED
    if tp_status <= 0x3F:
        return Status.SENT
    return Status.UNDELIVERED


def error_code_from_tp_st(tp_status: int) -> int | None:
    """Restcomm 300xx code for a final TP-ST that is not a delivery."""
    if tp_status <= 0x3F:
        return None
    if tp_status in (0x41, 0x45):       # incompatible destination, no interworking
        return 30006
    if tp_status in (0x42, 0x47, 0x48):  # rejected by SME / deleted
        return 30004
    if tp_status in (0x43, 0x46) or tp_status >= 0x60:  # not obtainable, expired, gave up
        return 30003
    return 30008


def decode_status_report(pdu_hex: str) -> StatusReport:
    """Decode an SMS-STATUS-REPORT as +CDS / AT+CMGR show it (with the SMSC field)."""
    data = _bytes(pdu_hex)
    smsc, pos = _decode_smsc(data)
    try:
        _first_octet(data, pos, MTI_STATUS_REPORT, "SMS-STATUS-REPORT")
        mr = data[pos + 1]
        recipient, pos = _decode_address(data, pos + 2)
        scts = decode_timestamp(data[pos:pos + 7])
        discharge = decode_timestamp(data[pos + 7:pos + 14])
        st = data[pos + 14]
    except IndexError:
        raise PduError("SMS-STATUS-REPORT truncated", len(data)) from None
    return StatusReport(smsc, mr, recipient, scts, discharge, st, status_from_tp_st(st),
                        error_code_from_tp_st(st))


def encode_status_report(reference: int, recipient: str, submitted: dt.datetime,
                         discharged: dt.datetime, tp_status: int) -> str:
    """An SMS-STATUS-REPORT with an empty SMSC field (for simulators and tests)."""
    tpdu = bytes((0x06, reference & 0xFF)) + encode_address(recipient)  # 0x06: MTI=2, TP-MMS
    tpdu += _encode_timestamp(submitted) + _encode_timestamp(discharged) + bytes((tp_status,))
    return ("00" + tpdu.hex()).upper()


def decode_pdu(pdu_hex: str) -> Deliver | StatusReport:
    """Decode whatever a modem delivered (+CMT, +CDS, AT+CMGR) by its TP-MTI."""
    data = _bytes(pdu_hex)
    _, pos = _decode_smsc(data)
    if pos >= len(data):
        raise PduError("no TPDU after the SMSC field", pos)
    mti = data[pos] & 0x03
    if mti == MTI_STATUS_REPORT:
        return decode_status_report(pdu_hex)
    if mti == MTI_DELIVER:
        return decode_deliver(pdu_hex)
    raise PduError(f"unexpected TP-MTI {mti}", pos)

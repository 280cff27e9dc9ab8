"""The simulator against an ESME that is not ours (smpplib.Client), so it is not shaped only
by our transport: bind, submit_sm with smpplib's own make_parts, receipt, unbind."""

from __future__ import annotations

import time
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.gsm
from smpp_sim import HappySMSC


def test_smpplib_client_binds_submits_and_gets_receipts() -> None:
    smsc = HappySMSC(id_format="dec", receipt_delay=0.05).start()
    client = smpplib.client.Client("127.0.0.1", smsc.port, timeout=10,
                                   allow_unknown_opt_params=True)
    sent: list[str] = []
    receipts: list[Any] = []
    client.set_message_sent_handler(lambda pdu: sent.append(pdu.message_id.decode()))
    client.set_message_received_handler(lambda pdu: receipts.append(pdu))
    try:
        client.connect()
        client.bind_transceiver(system_id="ivr", password="secret")
        text = "Grüße aus dem Simulator! " * 8
        parts, coding, esm_class = smpplib.gsm.make_parts(text)
        for part in parts:
            client.send_message(source_addr_ton=1, source_addr="15550001", dest_addr_ton=1,
                                destination_addr="36201234567", short_message=part,
                                data_coding=coding, esm_class=esm_class,
                                registered_delivery=1)
        deadline = time.monotonic() + 10
        while (len(sent) < len(parts) or len(receipts) < len(parts)) and \
                time.monotonic() < deadline:
            client.read_once()
        assert len(parts) > 1 and len(sent) == len(parts)
        assert smsc.messages() == [("36201234567", text)]
        ids = {r.receipted_message_id.decode() for r in receipts}
        assert ids == set(sent)
        assert all(b"stat:DELIVRD" in r.short_message and r.esm_class == 0x04 for r in receipts)
        client.unbind()
    finally:
        client.disconnect()
        smsc.stop()
    assert smsc.command_count("unbind") == 1

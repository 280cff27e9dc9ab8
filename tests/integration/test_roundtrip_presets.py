"""ivr A sends through each HTTP preset to ivr B serving that API (real waitress servers).

B stores the message and delivers it on its loopback route. For Restcomm the document defines
status callbacks, so B's StatusCallback (pointed by A's preset at A's /dlr/restcomm/<name>)
carries the delivery report back and A's message ends ``delivered``. The other three documents
define no delivery report, so A's message ends ``sent`` with B's id as the provider id.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.api.app import HttpServer, create_app, serve_http
from ivr.api.restcomm import message_id_from_sid
from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import Services, build_services
from ivr.sms.callbacks import webhook_token
from ivr.sms.ids import normalise_id
from ivr.sms.message import Message, Status
from ivr.sms.store import MessageQuery


@dataclass
class Instance:
    services: Services
    server: HttpServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.server.stop()
        self.services.sms.stop()
        self.services.users.close()


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_instance(directory: Path, transports: dict[str, str], port: int = 0,
                   public_url: str = "") -> Instance:
    settings = Settings()
    settings.ivr.data_dir = str(directory)
    settings.sms.database_url = f"sqlite:///{directory}/ivr.db"
    settings.sms.transports = transports
    settings.sms.retry_base_seconds = 0.05
    settings.sms.callback_allow = ["127.0.0.0/8"]   # the local receivers
    settings.sms.workers = 2
    settings.http.public_url = public_url
    services = build_services(settings)
    services.sms.start()
    server = serve_http(create_app(settings, services), "127.0.0.1", port, 4)
    return Instance(services, server)


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    started: list[Instance] = []

    def make(name: str, transports: dict[str, str], port: int = 0) -> Instance:
        instance = start_instance(tmp_path / name, transports, port)
        started.append(instance)
        return instance

    yield make
    for instance in reversed(started):
        instance.stop()


def wait_status(services: Services, message_id: str, wanted: set[Status],
                timeout: float = 30.0) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        message = services.sms.get(message_id)
        assert message is not None
        if message.status in wanted or time.monotonic() > deadline:
            return message
        time.sleep(0.05)


def received_by(b: Instance, owner: str, timeout: float = 30.0) -> list[Message]:
    deadline = time.monotonic() + timeout
    while True:
        messages, _ = b.services.sms.query(MessageQuery(owner=owner))
        if messages or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def restcomm_pair(instances: Callable[..., Instance], network: str,
                  sender: str) -> tuple[Instance, Instance, int]:
    """(a, b, a's port): b delivers through ``network`` and has the account "carrier"; a
    sends through b with the Restcomm preset and takes b's status callbacks on its port."""
    b = instances("b", {"loopback": network})
    account = b.services.users.add("carrier", "carrier-pw", {"sms"})
    port_a = free_tcp_port()
    a = instances("a", {"cpaas": f"http+restcomm://{account.account_sid}:{account.auth_token}"
                                 f"@127.0.0.1:{b.server.port}?sender={sender}"
                                 f"&public_url=http://127.0.0.1:{port_a}"}, port=port_a)
    return a, b, port_a


def test_restcomm_round_trip_with_status_callbacks(
        instances: Callable[..., Instance]) -> None:
    a, b, port_a = restcomm_pair(instances, "loopback://?delay=0.1", "19876543212")
    sent = a.services.sms.submit(SmsRequest(recipient="13216549878", body="Round trip ✓"))
    final = wait_status(a.services, sent.id, {Status.DELIVERED, Status.FAILED,
                                              Status.UNDELIVERED})
    assert final.status == Status.DELIVERED, final
    provider_sid = final.parts[0].provider_id
    on_b = b.services.sms.get(message_id_from_sid(provider_sid) or "")
    assert on_b is not None and on_b.owner == "carrier"
    assert (on_b.recipient, on_b.sender, on_b.body) == ("13216549878", "19876543212",
                                                        "Round trip ✓")
    token = webhook_token(a.services.sms.callbacks.key, "cpaas")   # A's webhook secret
    assert on_b.callback_url == f"http://127.0.0.1:{port_a}/dlr/restcomm/cpaas?token={token}"
    assert on_b.status == Status.DELIVERED


def test_restcomm_undelivered_flows_back(instances: Callable[..., Instance]) -> None:
    a, _, _ = restcomm_pair(instances, "loopback://?delay=0.05&undeliver=^99", "1987")
    sent = a.services.sms.submit(SmsRequest(recipient="9912345", body="nobody home"))
    final = wait_status(a.services, sent.id, {Status.DELIVERED, Status.UNDELIVERED,
                                              Status.FAILED})
    assert final.status == Status.UNDELIVERED and final.error_code == 30005


@pytest.mark.parametrize("preset,query", [
    ("acrobits-generic", ""),
    ("jsonapi", "?sender=Shop"),
    ("enswitch", "?sender=2125550000"),
])
def test_preset_round_trip(instances: Callable[..., Instance], preset: str, query: str) -> None:
    b = instances("b", {"loopback": "loopback://?delay=0.05"})
    b.services.users.add("carrier", "carrier-pw", {"sms"})
    a = instances("a", {"up": f"http+{preset}://carrier:carrier-pw@127.0.0.1:{b.server.port}"
                              f"{query}"})
    sent = a.services.sms.submit(SmsRequest(recipient="+15551231234", body="Hello World ✓",
                                            disposition_notification="id1:positive-delivery"))
    final = wait_status(a.services, sent.id, {Status.SENT, Status.FAILED})
    assert final.status == Status.SENT, final
    [on_b] = received_by(b, "carrier")
    assert (on_b.recipient, on_b.body) == ("+15551231234", "Hello World ✓")
    if preset == "enswitch":
        assert final.parts[0].provider_id == ""        # Enswitch returns no id
        assert on_b.sender == "2125550000"
    else:
        # sms_id / data.id, stored as every provider id is (ivr/sms/ids.py: no leading zeros)
        assert final.parts[0].provider_id == normalise_id(on_b.id)
    if preset == "acrobits-generic":
        assert on_b.disposition_notification == "id1:positive-delivery"
    if preset == "jsonapi":
        assert on_b.client_ref == sent.id and on_b.sender == "Shop"
    assert wait_status(b.services, on_b.id, {Status.DELIVERED}).status == Status.DELIVERED


def test_refusal_by_the_second_instance_fails_the_message(
        instances: Callable[..., Instance]) -> None:
    b = instances("b", {"loopback": "loopback://"})
    b.services.users.add("carrier", "carrier-pw", {"sms"})
    a = instances("a", {"up": f"http+jsonapi://carrier:wrong-pw@127.0.0.1:{b.server.port}"})
    sent = a.services.sms.submit(SmsRequest(recipient="+15551231234", body="x"))
    final = wait_status(a.services, sent.id, {Status.FAILED})
    assert final.status == Status.FAILED
    assert final.error_message == "Please check your login and password"

"""Peers of the console tests: ``ivr serve`` in-process on free ports, and headless Chromium.

Chromium and its WebDriver come from Debian (``chromium``, ``chromium-driver``); selenium
drives them. The flags are the ones that work in a container without a display or network:
no sandbox (no user namespaces), no GPU, no background traffic, a fresh profile each time.
"""

from __future__ import annotations

import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from ivr.config import Settings
from ivr.service import Runtime
from tests.integration.voice_peers import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN, ADMIN_PASSWORD = "boss", "s3cret-pass"
CLERK, CLERK_PASSWORD = "clerk", "clerk-pass"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,1000")


@dataclass
class Console:
    runtime: Runtime
    settings: Settings
    base_url: str

    @property
    def sip_port(self) -> int:
        return self.settings.sip.bind_port

    def url(self, path: str) -> str:
        return self.base_url + path


def start_console(tmp_path: Path, *, sip: bool = True) -> Console:
    """``ivr serve`` as it wires itself (Runtime), with a loopback SMS transport, a scripts
    directory holding copies of the shipped scripts, an admin and a non-admin user."""
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "ozml_scripts", scripts, ignore=shutil.ignore_patterns("sounds"))
    (scripts / "hold.xml").write_text(
        '<Response><UserInput Timeout="60" Repeat="true" MaxRepeats="5">'
        '<InitialCommands><Speak>Please hold.</Speak></InitialCommands>'
        '<Inputs><Input Key="1"><Speak>One.</Speak></Input></Inputs>'
        '</UserInput></Response>')
    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "var")
    settings.sms.database_url = f"sqlite:///{tmp_path}/var/ivr.db"
    # Reports 2 s after the send, so a page can watch a message go from sent to delivered.
    settings.sms.transports = {"loopback": r"loopback://?delay=2&fail=^\+999"}
    settings.sms.retry_base_seconds = 0.05
    settings.sms.callback_allow = ["127.0.0.0/8"]    # the tests' callback receivers
    settings.sms.workers = 2
    settings.ozml.scripts_dir = str(scripts)
    settings.sip.enabled = sip
    settings.sip.bind_port = free_port()
    low = 30000 + free_port() % 15000 * 2      # an even port, somewhere others are not
    settings.sip.rtp_port_low, settings.sip.rtp_port_high = low, low + 100
    settings.sip.default_script = str(scripts / "hold.xml")
    settings.audio.cache_dir = str(tmp_path / "cache")
    settings.audio.recordings_dir = str(tmp_path / "recordings")
    settings.http.port = free_port(socket.SOCK_STREAM)
    runtime = Runtime(settings)
    runtime.services.users.add(ADMIN, ADMIN_PASSWORD, {"sms", "calls", "admin"})
    runtime.services.users.add(CLERK, CLERK_PASSWORD, {"sms", "calls"})
    runtime.start()
    return Console(runtime, settings, f"http://127.0.0.1:{settings.http.port}")


def signed_in_session(console: Console, user: str = ADMIN,
                      password: str = ADMIN_PASSWORD) -> tuple[requests.Session, str]:
    """A requests session signed in to the console, and its CSRF token."""
    session = requests.Session()
    page = session.get(console.url("/console/login"), timeout=10)
    session.post(console.url("/console/login"), timeout=10, data={
        "username": user, "password": password, "csrf_token": csrf_of(page.text)})
    return session, csrf_of(session.get(console.url("/console/users"), timeout=10).text)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def chromium(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile.mkdir(parents=True, exist_ok=True)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver

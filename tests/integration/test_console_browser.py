"""The console in a real browser: headless Chromium (Debian) driven by selenium, against
``ivr serve`` wired as in production, with SIPp as the caller and the Ozeki API as the app.

Every page is screenshotted; with ``IVR_CONSOLE_SCREENSHOTS=DIR`` the pictures are also
written there (``docs/console/`` is made that way, see docs/console.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from callback_receiver import CallbackReceiver
from lxml import etree
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.console_peers import (
    ADMIN,
    ADMIN_PASSWORD,
    CLERK,
    CLERK_PASSWORD,
    Console,
    chromium,
    start_console,
)
from tests.integration.voice_peers import free_port, media_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="Debian chromium + chromium-driver are installed by `make deps`")]

ROOT = Path(__file__).resolve().parents[2]
UNTIL_BYE = ROOT / "tests" / "data" / "sip" / "uac_until_bye.xml"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = start_console(tmp_path_factory.mktemp("console"))
    yield running
    running.runtime.stop()


@pytest.fixture(scope="module")
def browser(console: Console, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        sign_in(driver, console)
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, console: Console) -> None:
    driver.get(console.url("/console/"))
    assert "/console/login" in driver.current_url     # no session: sent to sign in
    driver.find_element(By.NAME, "username").send_keys(ADMIN)
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    shot(driver, "login")
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait_for(driver, lambda d: d.current_url.endswith("/console/calls"))


def wait_for(driver: WebDriver, check: Callable[[WebDriver], object],
             timeout: float = 15) -> object:
    # A page that is being replaced (form submitted, fragment swapped) may hand back an
    # element that is gone by the time it is read: look again.
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(check)


def text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def shot(driver: WebDriver, name: str) -> bytes:
    """A screenshot of the page as it is; it must be a real picture, not a blank page."""
    png = driver.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000, f"{name}: {len(png)} bytes looks like an empty page"
    target = os.environ.get("IVR_CONSOLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / f"{name}.png").write_bytes(png)
    return png


def sipp_until_bye(console: Console, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [shutil.which("sipp") or "sipp", f"127.0.0.1:{console.sip_port}", "-sf", str(UNTIL_BYE),
         "-s", "ivr", "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()),
         "-mp", str(media_port()), "-nostdin", "-timeout", "40", "-timeout_error",
         "-trace_err"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_live_sipp_call_appears_and_is_hung_up(console: Console, browser: WebDriver,
                                               tmp_path: Path) -> None:
    browser.get(console.url("/console/calls"))
    assert "No calls right now." in text(browser, "#calls tbody")
    caller = sipp_until_bye(console, tmp_path)
    try:
        row = "#calls tbody tr[data-call-id]"
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row))
        wait_for(browser, lambda d: "InCall" in text(d, row))
        cells = browser.find_element(By.CSS_SELECTOR, row).text
        assert "15550001111" in cells and "ivr" in cells and "hold.xml" in cells
        assert "/" not in browser.find_element(By.CSS_SELECTOR, f"{row} td[data-label=Script]").text
        shot(browser, "calls")
        browser.find_element(By.CSS_SELECTOR, f"{row} button.hangup").click()
        wait_for(browser, lambda d: "No calls right now." in text(d, "#calls tbody"))
        assert "Hung up" in text(browser, ".flash")
        out, err = caller.communicate(timeout=30)
        # SIPp's scenario ends with the BYE it received and its 200 OK: we hung up.
        assert caller.returncode == 0, out[-2000:] + err[-2000:]
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.communicate()
    assert console.runtime.services.calls.list_calls() == []


def test_sms_sent_over_the_api_reaches_delivered_on_its_timeline(
        console: Console, browser: WebDriver, receiver: CallbackReceiver) -> None:
    answer = requests.get(console.url("/api"), timeout=10, params={
        "command": "SendSms", "Username": CLERK, "Password": CLERK_PASSWORD,
        "Recipient": "+36201234567", "Message": "Console test message",
        "DeliveryReportURL": receiver.url + "/dlr"})
    sms_id = etree.fromstring(answer.content).findtext("SmsId")
    assert answer.status_code == 200 and sms_id
    browser.get(console.url("/console/messages?number=36201234567&owner=" + CLERK))
    link = browser.find_element(By.CSS_SELECTOR, "#messages tbody a")
    assert "Console test message" in text(browser, "#messages tbody")
    shot(browser, "messages")
    link.click()
    assert text(browser, "#status") in ("queued", "sending", "sent")
    wait_for(browser, lambda d: text(d, "#status") == "delivered")   # the page refreshed it
    timeline = text(browser, "#timeline")
    assert timeline.index("queued") < timeline.index("sent") < timeline.index("delivered")
    assert "accepted by loopback" in timeline
    wait_for(browser, lambda d: "done" in text(d, "#callbacks"), timeout=20)
    assert "2xx" in text(browser, "#callbacks")
    assert sms_id in browser.find_element(By.TAG_NAME, "h1").text
    assert "1" in text(browser, "#parts tbody")
    shot(browser, "message")


def test_failed_message_is_sent_again(console: Console, browser: WebDriver) -> None:
    answer = requests.get(console.url("/api"), timeout=10, params={
        "command": "SendSms", "Username": CLERK, "Password": CLERK_PASSWORD,
        "Recipient": "+9991234567", "Message": "to a number the network refuses"})
    sms_id = etree.fromstring(answer.content).findtext("SmsId")
    browser.get(console.url(f"/console/messages/{sms_id}"))
    wait_for(browser, lambda d: text(d, "#status") == "failed")
    browser.refresh()                          # the retry button shows for final failures
    browser.find_element(By.ID, "retry").click()
    wait_for(browser, lambda d: "Sent again as" in text(d, ".flash"))
    new_id = text(browser, ".flash").rsplit(" ", 1)[1]
    assert new_id != sms_id and new_id in browser.find_element(By.TAG_NAME, "h1").text
    assert f"retry-of:{sms_id}" in text(browser, ".facts")
    again = console.runtime.services.sms.get(new_id)
    assert again is not None and (again.recipient, again.body, again.owner) == (
        "+9991234567", "to a number the network refuses", CLERK)
    old = console.runtime.services.sms.get(sms_id)
    assert old is not None and old.status.value == "failed"      # its record is kept
    # Searching by status and time finds both, and a window before them finds neither.
    browser.get(console.url("/console/messages?status=failed&number=%2B9991234567"))
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#messages tbody a")) == 2)
    browser.get(console.url("/console/messages?number=9991234567&to=2000-01-01T00:00"))
    assert "No messages match." in text(browser, "#messages tbody")


def test_script_error_is_marked_at_its_line(console: Console, browser: WebDriver) -> None:
    browser.get(console.url("/console/scripts"))
    assert "menu.xml" in text(browser, "#scripts")
    shot(browser, "scripts")
    browser.get(console.url("/console/scripts/typo.xml?new=1"))
    source = browser.find_element(By.ID, "source")
    source.clear()
    # Line 3 opens <Speek>, which no OzML schema knows.
    source.send_keys('<?xml version="1.0"?>\n<Response>\n<Speek>Hello</Speek>\n</Response>\n')
    item = "#diagnostics li.error"
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, item))
    first = browser.find_element(By.CSS_SELECTOR, item)
    assert first.get_attribute("data-line") == "3", first.text
    assert first.text.startswith("3:")
    marked = browser.find_elements(By.CSS_SELECTOR, "#gutter .mark-error")
    assert [m.get_attribute("data-line") for m in marked] == ["3"]
    # ...and the mark sits beside line 3 of the text: one gutter number per text line.
    step, line_height = browser.execute_script(
        "const n = document.querySelectorAll('#gutter span');"
        "return [n[1].getBoundingClientRect().top - n[0].getBoundingClientRect().top,"
        "        parseFloat(getComputedStyle(document.getElementById('source')).lineHeight)];")
    assert abs(step - line_height) < 0.5, (step, line_height)
    assert "error" in text(browser, "#lint-summary")
    shot(browser, "script-lint")
    source.send_keys("\b" * 200)   # fix it by typing: the mark goes away
    source.send_keys('<?xml version="1.0"?>\n<Response>\n<Speak>Hello</Speak>\n</Response>\n')
    wait_for(browser, lambda d: text(d, "#lint-summary") == "no problems")
    assert not browser.find_elements(By.CSS_SELECTOR, "#gutter .mark-error")


def test_simulate_menu_by_clicking_keys(console: Console, browser: WebDriver) -> None:
    browser.get(console.url("/console/scripts/menu.xml"))
    browser.find_element(By.ID, "sim-start").click()
    wait_for(browser, lambda d: "waiting for a key" in text(d, "#sim-state"))
    assert "For sales press 1" in text(browser, "#transcript")
    for key, heard in (("2", "Support menu"), ("1", "[sms]")):
        browser.find_element(By.CSS_SELECTOR, f'#keypad button[data-key="{key}"]').click()
        wait_for(browser, lambda d, heard=heard: heard in text(d, "#transcript"))
    transcript = text(browser, "#transcript")
    assert "caller pressed 2" in transcript and "caller pressed 1" in transcript
    assert "Support is open Monday to Friday" in transcript     # the SMS's text
    wait_for(browser, lambda d: text(d, "#sim-state") == "call ended")
    assert "[hangup]" in transcript or "Goodbye" in transcript
    # A prompt plays from the TTS cache: the page's audio element gets a WAV.
    browser.find_element(By.CSS_SELECTOR, "#transcript .play").click()
    src = str(browser.find_element(By.ID, "player").get_attribute("src"))
    kind = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => done(r.status + ' ' + r.headers.get('Content-Type')))",
        src)
    assert kind == "200 audio/wav"
    assert list((Path(console.settings.audio.cache_dir)).iterdir())   # rendered into the cache
    shot(browser, "script-simulate")


def test_transports_and_users_pages(console: Console, browser: WebDriver) -> None:
    browser.get(console.url("/console/transports"))
    row = text(browser, '#transports tr[data-transport="loopback"]')
    assert "loopback" in row and "up" in row
    time.sleep(2.5)                          # one refresh: the rate column is measured
    assert "/s" in text(browser, '#transports tr[data-transport="loopback"] .rate')
    shot(browser, "transports")
    browser.get(console.url("/console/users"))
    users = text(browser, "#users")
    assert ADMIN in users and CLERK in users
    clerk = console.runtime.services.users.get(CLERK)
    assert clerk is not None and clerk.account_sid in users
    form = browser.find_element(By.ID, "add-user")
    form.find_element(By.NAME, "name").send_keys("newbie")
    form.find_element(By.NAME, "password").send_keys("newbie-pass")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: "added newbie" in text(d, ".flash"))
    added = console.runtime.services.users.get("newbie")
    assert added is not None and added.permissions == {"sms", "calls"}
    row_css = '#users tr[data-user="newbie"]'
    browser.find_element(By.CSS_SELECTOR, f'{row_css} input[value="calls"]').click()
    limit = browser.find_element(By.CSS_SELECTOR, f'{row_css} input[name="rate_limit"]')
    limit.clear()
    limit.send_keys("30")
    browser.find_element(By.CSS_SELECTOR, f"{row_css} form.inline button").click()
    wait_for(browser, lambda d: "updated newbie" in text(d, ".flash"))
    changed = console.runtime.services.users.get("newbie")
    assert changed is not None and (changed.permissions, changed.rate_limit_per_minute) == (
        {"sms"}, 30)
    shot(browser, "users")
    browser.execute_script("window.confirm = () => true;")
    browser.find_element(By.CSS_SELECTOR, f"{row_css} button.danger").click()
    wait_for(browser, lambda d: "removed newbie" in text(d, ".flash"))
    assert console.runtime.services.users.get("newbie") is None


def test_readable_on_a_phone(console: Console, browser: WebDriver) -> None:
    browser.set_window_size(390, 844)
    try:
        for page in ("calls", "messages", "scripts", "scripts/menu.xml", "transports", "users"):
            browser.get(console.url(f"/console/{page}"))
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= 400, f"/console/{page} is {width} px wide on a 390 px screen"
            if page == "messages":
                shot(browser, "phone-messages")
    finally:
        browser.set_window_size(1280, 1000)

"""The console's doors, over real HTTP against ``ivr serve``: no session, no CSRF token, no
``admin`` permission, and script names that try to leave the scripts directory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ivr.api.app import create_app
from tests.integration.console_peers import (
    ADMIN,
    ADMIN_PASSWORD,
    CLERK,
    CLERK_PASSWORD,
    Console,
    csrf_of,
    signed_in_session,
    start_console,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = start_console(tmp_path_factory.mktemp("console"), sip=False)
    yield running
    running.runtime.stop()


def console_rules(console: Console) -> list[tuple[str, str]]:
    """(method, path) of every console route, with sample values for its variables."""
    app = create_app(console.settings, console.runtime.services)
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console") or rule.endpoint in (
                "console.static", "console.login"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: {"name": "menu.xml"}.get(
            m.group(1), "x"), rule.rule)
        rules.extend((method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return rules


def test_every_page_and_action_needs_a_session(console: Console) -> None:
    rules = console_rules(console)
    assert len(rules) >= 15, rules
    users_before = [u.name for u in console.runtime.services.users.list()]
    anonymous = requests.Session()
    token = csrf_of(anonymous.get(console.url("/console/login"), timeout=10).text)
    for method, path in rules:
        # Even with a valid CSRF token of an anonymous session, nothing is done.
        response = anonymous.request(method, console.url(path), timeout=10, allow_redirects=False,
                                     headers={"Accept": "text/html", "X-CSRF-Token": token},
                                     data={"name": "intruder", "password": "intruder-pw",
                                           "permissions": "admin", "csrf_token": token})
        if method == "GET":
            assert response.status_code == 302, (method, path, response.status_code)
            assert "/console/login" in response.headers["Location"]
        else:
            assert response.status_code == 401, (method, path, response.status_code)
    fragment = anonymous.get(console.url("/console/calls?fragment=1"), timeout=10,
                             allow_redirects=False)
    assert fragment.status_code == 401
    assert [u.name for u in console.runtime.services.users.list()] == users_before


def test_sign_in_cookie_is_httponly_samesite_and_scoped(console: Console) -> None:
    session = requests.Session()
    token = csrf_of(session.get(console.url("/console/login"), timeout=10).text)
    response = session.post(console.url("/console/login"), allow_redirects=False, timeout=10,
                            data={"username": ADMIN, "password": ADMIN_PASSWORD,
                                  "csrf_token": token})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    page = session.get(console.url("/console/calls"), timeout=10)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_csrf_token_is_required_for_every_change(console: Console) -> None:
    session, token = signed_in_session(console)
    form = {"name": "mallory", "password": "mallory-pw", "permissions": "admin"}
    for headers, data in (({}, form), ({"X-CSRF-Token": "wrong"}, form),
                          ({}, {**form, "csrf_token": token[:-1] + "x"})):
        response = session.post(console.url("/console/users"), data=data, headers=headers,
                                timeout=10, allow_redirects=False)
        assert response.status_code == 403
    assert console.runtime.services.users.get("mallory") is None
    for path, body in (("/console/lint", {"name": "menu.xml", "text": "<Response/>"}),
                       ("/console/scripts/menu.xml", {"text": "<Response/>"})):
        assert session.post(console.url(path), json=body, timeout=10).status_code == 403
    assert "<UserInput" in (Path(console.settings.ozml.scripts_dir) / "menu.xml").read_text()
    ok = session.post(console.url("/console/lint"), headers={"X-CSRF-Token": token},
                      json={"name": "menu.xml", "text": "<Response><Hangup/></Response>"},
                      timeout=10)
    assert ok.status_code == 200 and ok.json() == {"diagnostics": []}
    # Sign-in itself needs the token of the page that showed the form (login CSRF).
    fresh = requests.Session()
    refused = fresh.post(console.url("/console/login"), timeout=10, allow_redirects=False,
                         data={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert refused.status_code == 403


def test_a_user_without_admin_cannot_sign_in(console: Console) -> None:
    session, _ = signed_in_session(console, CLERK, CLERK_PASSWORD)
    page = session.get(console.url("/console/calls"), timeout=10, allow_redirects=False)
    assert page.status_code == 302 and "/console/login" in page.headers["Location"]
    login = session.get(console.url("/console/login"), timeout=10)
    answer = session.post(console.url("/console/login"), timeout=10, data={
        "username": CLERK, "password": CLERK_PASSWORD, "csrf_token": csrf_of(login.text)})
    assert answer.status_code == 401 and "has no admin permission" in answer.text


def test_taking_admin_away_ends_the_session_at_once(console: Console) -> None:
    users = console.runtime.services.users
    users.add("deputy", "deputy-pass", {"admin"})
    session, _ = signed_in_session(console, "deputy", "deputy-pass")
    assert session.get(console.url("/console/users"), timeout=10).status_code == 200
    users.update("deputy", {"sms"}, 0)
    after = session.get(console.url("/console/users"), timeout=10, allow_redirects=False)
    assert after.status_code == 302


def test_the_next_parameter_cannot_redirect_off_site(console: Console) -> None:
    session = requests.Session()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example/console/"):
        login = session.get(console.url("/console/login"), timeout=10)
        answer = session.post(console.url("/console/login"), params={"next": target},
                              allow_redirects=False, timeout=10, data={
                                  "username": ADMIN, "password": ADMIN_PASSWORD,
                                  "csrf_token": csrf_of(login.text)})
        assert answer.headers["Location"] == "/console/calls", target


@pytest.mark.parametrize("name", ["../menu.xml", "..%2Fmenu.xml", "..", "../../etc/passwd",
                                  ".hidden.xml", "sub/menu.xml", "menu.xml/..", "..%2F..%2Fx.xml",
                                  "%2e%2e%2fescape.xml"])
def test_script_names_cannot_leave_the_scripts_directory(console: Console, name: str,
                                                         tmp_path: Path) -> None:
    session, token = signed_in_session(console)
    headers = {"X-CSRF-Token": token}
    outside = Path(console.settings.ozml.scripts_dir).parent
    before = sorted(p.name for p in outside.iterdir())
    # ("/console/scripts/.." is resolved by the client to /console/, which redirects.)
    read = session.get(console.url(f"/console/scripts/{name}"), timeout=10,
                       allow_redirects=False)
    assert read.status_code in (302, 400, 404), (name, read.status_code)
    assert "root:" not in read.text and 'id="source"' not in read.text
    saved = session.post(console.url(f"/console/scripts/{name}"), headers=headers,
                         json={"text": "<Response/>"}, timeout=10)
    assert saved.status_code in (400, 404, 405), (name, saved.status_code)
    plain = name.replace("%2F", "/").replace("%2e", ".").replace("%2f", "/")
    for path, body in (("/console/lint", {"name": plain, "text": "<Response/>"}),
                       ("/console/simulate", {"name": plain, "text": "<Response/>",
                                              "inputs": []})):
        answer = session.post(console.url(path), headers=headers, json=body, timeout=10)
        assert answer.status_code == 400, (path, plain, answer.status_code)
    assert sorted(p.name for p in outside.iterdir()) == before


def test_symlinks_out_and_goto_out_are_refused(console: Console, tmp_path: Path) -> None:
    scripts = Path(console.settings.ozml.scripts_dir)
    secret = tmp_path / "secret.xml"
    secret.write_text("<Response><Speak>top secret</Speak></Response>")
    (scripts / "link.xml").symlink_to(secret)
    try:
        session, token = signed_in_session(console)
        assert "link.xml" not in session.get(console.url("/console/scripts"), timeout=10).text
        assert session.get(console.url("/console/scripts/link.xml"),
                           timeout=10).status_code == 400
        # A simulated <GoTo> may reach sibling scripts, never another local file.
        goto = f"<Response><GoTo>{secret}</GoTo></Response>"
        result = session.post(console.url("/console/simulate"), timeout=10,
                              headers={"X-CSRF-Token": token},
                              json={"name": "menu.xml", "text": goto, "inputs": []}).json()
        transcript = " ".join(line["text"] for line in result["lines"])
        assert "top secret" not in transcript and "application error" in transcript
    finally:
        (scripts / "link.xml").unlink()

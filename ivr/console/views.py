"""The ``/console`` blueprint: views parse, call a service, render a template.

Every view but sign-in and the static files needs a signed-in ``admin``; every POST needs
the session's CSRF token (auth.py). Lists that change on their own (live calls, a message's
timeline, transports) are also served as an HTML fragment (``?fragment=1``) that the page's
JavaScript fetches again every second or two and swaps in, so rendering stays in Jinja.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ivr import metrics
from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.console import auth
from ivr.console.scripts import ScriptFiles, lint_text, simulate
from ivr.errors import AuthError, IvrError, ValidationError
from ivr.ozml.fetch import is_url
from ivr.sms.message import FINAL_STATUSES, Message, Status
from ivr.sms.store import MessageQuery
from ivr.users import PERMISSIONS
from ivr.voice.dialplan import Dialplan

__all__ = ["make_blueprint"]

log = logging.getLogger(__name__)

_OPEN_ENDPOINTS = frozenset({"console.login", "console.static"})
_RETRYABLE = frozenset({Status.FAILED, Status.UNDELIVERED})
_PAGE = 50
_NEW_SCRIPT = """<?xml version="1.0"?>
<Response>
  <Speak>Hello.</Speak>
  <Hangup/>
</Response>
"""


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _parse_time(raw: str, field_name: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(field_name, "a date and time like 2026-01-31T14:00") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _fragment() -> bool:
    return request.args.get("fragment") == "1"


def make_blueprint(settings: Settings, services: Any) -> Blueprint:
    bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                   static_folder="static")
    files = ScriptFiles(settings.ozml.scripts_dir, settings.ozml.max_document_bytes)
    policy = services.sms.callbacks.policy   # the deployment's one outbound policy
    dialplan = Dialplan(settings.sip.dialplan, settings.sip.default_script)
    users = services.users

    def _script_label(script: str) -> str:
        """A script of the scripts directory by its file name; anything else as it is."""
        path = Path(script)
        inside = not is_url(script) and path.resolve().parent == files.directory
        return path.name if inside else script

    @bp.before_request
    def _guard() -> BaseResponse | None:
        auth.check_csrf()
        if request.endpoint in _OPEN_ENDPOINTS:
            return None
        user = auth.signed_in_user(users)
        if user is None:
            if request.method == "GET" and not _fragment() and \
                    request.accept_mimetypes.accept_html:
                return redirect(url_for("console.login", next=request.path))
            abort(401, "sign in to the console first")
        g.console_user = user
        return None

    @bp.errorhandler(HTTPException)
    def _error(exc: HTTPException) -> tuple[Response | str, int]:
        """A page for a person, JSON for the page's own fetch() calls."""
        code = exc.code or 500
        if request.accept_mimetypes.best == "application/json" or request.is_json:
            return jsonify(error=exc.name, message=exc.description), code
        return render_template("error.html", code=code, name=exc.name,
                               message=exc.description, page=""), code

    @bp.after_request
    def _headers(response: Response) -> Response:
        # The console is never framed and never cached; scripts only from itself.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; media-src 'self' blob:; "
                                    "frame-ancestors 'none'")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @bp.app_context_processor
    def _template_globals() -> dict[str, Any]:
        return {"csrf_token": auth.csrf_token, "console_user": g.get("console_user")}

    # -- sign-in -------------------------------------------------------------------------
    @bp.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | tuple[str, int]:
        error = ""
        if request.method == "POST":
            try:
                user = users.authenticate(request.form.get("username", ""),
                                          request.form.get("password", ""),
                                          request.remote_addr or "")
            except AuthError as exc:
                error = str(exc)
            else:
                if user.may(auth.ADMIN):
                    auth.sign_in(user)
                    log.info("[req %s] console: %s signed in", g.get("request_id", "?"),
                             user.name)
                    target = request.args.get("next", "")
                    # Only our own pages: an open redirect would make phishing easy.
                    if not target.startswith("/console/") or target.startswith("//"):
                        target = url_for("console.calls")
                    return redirect(target)
                error = f"{user.name} has no admin permission"
                log.warning("[req %s] console: %s refused (no admin permission)",
                            g.get("request_id", "?"), user.name)
        return render_template("login.html", error=error), (401 if error else 200)

    @bp.post("/logout")
    def logout() -> BaseResponse:
        auth.sign_out()
        return redirect(url_for("console.login"))

    @bp.get("/")
    def index() -> BaseResponse:
        return redirect(url_for("console.calls"))

    # -- live calls ----------------------------------------------------------------------
    def call_rows() -> list[dict[str, str]]:
        control = services.calls
        if control is None:
            return []
        return [{"id": c.call_id, "caller": c.caller_id, "callee": c.destination,
                 "script": _script_label(c.script or dialplan.script_for(c.destination)),
                 "state": c.state,
                 "duration": _duration(c.ring_seconds + c.talk_seconds),
                 "talk": _duration(c.talk_seconds)} for c in control.list_calls()]

    @bp.get("/calls")
    def calls() -> str:
        template = "calls_rows.html" if _fragment() else "calls.html"
        return render_template(template, calls=call_rows(),
                               voice=services.calls is not None, page="calls")

    @bp.post("/calls/<call_id>/hangup")
    def hangup(call_id: str) -> BaseResponse:
        control = services.calls
        if control is None:
            abort(503, "the voice side is not running")
        try:
            control.hangup(call_id)
        except KeyError:
            abort(404, "no such call (it may have ended)")
        log.info("[call %s] hung up from the console by %s", call_id, g.console_user.name)
        if request.accept_mimetypes.best == "application/json":
            return jsonify(hungup=call_id)
        flash(f"Hung up {call_id}")
        return redirect(url_for("console.calls"))

    # -- messages ------------------------------------------------------------------------
    @bp.get("/messages")
    def messages() -> tuple[str, int]:
        args = request.args
        error, total = "", 0
        found: list[Message] = []
        try:
            found, total = _search(args)
        except ValidationError as exc:
            error = str(exc)
        return render_template("messages.html", messages=found, total=total, args=args,
                               statuses=[s.value for s in Status], error=error, when=_when,
                               page="messages"), (400 if error else 200)

    def _search(args: Any) -> tuple[list[Message], int]:
        query = MessageQuery(
            owner=args.get("owner") or None, status=args.get("status") or None,
            created_from=_parse_time(args.get("from", ""), "from"),
            created_to=_parse_time(args.get("to", ""), "to"),
            descending=True, limit=_PAGE, offset=max(0, int(args.get("offset", "0") or 0)))
        number = args.get("number", "").strip()
        if not number:
            return services.sms.query(query)
        # A number is who a message went to or came from, stored as it was given (with or
        # without "+"): every spelling on both sides, newest first.
        digits = number.lstrip("+")
        merged: dict[str, Message] = {}
        total = 0
        for spelling in {digits, "+" + digits} if digits.isdigit() else {number}:
            for side in ("recipient", "sender"):
                found, count = services.sms.query(replace(query, **{side: spelling}))
                merged.update((m.id, m) for m in found)
                total += count
        ordered = sorted(merged.values(), key=lambda m: m.created_at or dt.datetime.min,
                         reverse=True)
        return ordered[:_PAGE], total

    @bp.get("/messages/<message_id>")
    def message(message_id: str) -> str:
        found = services.sms.get(message_id)
        if found is None:
            abort(404, "no such message")
        store = services.sms.store
        template = "message_live.html" if _fragment() else "message.html"
        return render_template(
            template, m=found, events=store.events(message_id),
            callbacks=store.callback_history(message_id),
            attempts=[(status, dt.datetime.fromtimestamp(at, dt.UTC), result)
                      for status, at, result in store.callback_attempts(message_id)],
            when=_when,
            final=found.status in FINAL_STATUSES, retryable=found.status in _RETRYABLE,
            page="messages")

    @bp.post("/messages/<message_id>/retry")
    def retry(message_id: str) -> BaseResponse:
        """A failed message is sent again as a new message (its own id and history); the
        failed one stays as it was, so its record is never rewritten."""
        old = services.sms.get(message_id)
        if old is None:
            abort(404, "no such message")
        if old.status not in _RETRYABLE:
            abort(409, f"only failed or undelivered messages are retried (this one is "
                  f"{old.status.value})")
        new = services.sms.submit(SmsRequest(
            recipient=old.recipient, body=old.body, sender=old.sender,
            callback_url=old.callback_url, callback_method=old.callback_method,
            callback_format=old.callback_format, owner=old.owner, client_ref=old.client_ref,
            request_status_report=old.request_status_report, silent=old.silent,
            source=f"console:{g.console_user.name}:retry-of:{old.id}"))
        log.info("[sms %s] retried from the console by %s as %s", old.id,
                 g.console_user.name, new.id)
        flash(f"Sent again as {new.id}")
        return redirect(url_for("console.message", message_id=new.id))

    # -- scripts -------------------------------------------------------------------------
    @bp.get("/scripts")
    def scripts() -> BaseResponse | str:
        if request.args.get("name"):     # the "new file" form
            return redirect(url_for("console.script", name=_name(request.args["name"]),
                                    new=1))
        listing = []
        for name in files.names():
            found = lint_text(files.read(name) or "", name)
            listing.append({"name": name,
                            "errors": sum(d.severity == "error" for d in found),
                            "warnings": sum(d.severity == "warning" for d in found)})
        return render_template("scripts.html", scripts=listing, directory=files.directory,
                               page="scripts")

    def _name(raw: str) -> str:
        try:
            files.path(raw)
        except ValidationError as exc:
            abort(400, str(exc))
        return raw

    @bp.get("/scripts/<name>")
    def script(name: str) -> str:
        text = files.read(_name(name))
        if text is None:
            if request.args.get("new") != "1":
                abort(404, "no such script")
            text = _NEW_SCRIPT
        return render_template("script.html", name=name, text=text, page="scripts")

    @bp.post("/scripts/<name>")
    def save_script(name: str) -> Response:
        text = _json_field("text")
        files.write(_name(name), text)
        log.info("console: %s saved script %s (%d bytes)", g.console_user.name, name,
                 len(text))
        return jsonify(saved=name, diagnostics=_diagnostics(text, name))

    @bp.post("/lint")
    def lint() -> Response:
        name = _name(_json_field("name"))
        return jsonify(diagnostics=_diagnostics(_json_field("text"), name))

    @bp.post("/simulate")
    def simulate_call() -> Response:
        body = request.get_json(silent=True) or {}
        inputs = body.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            abort(400, "inputs: a list of keys")
        name = _name(_json_field("name"))
        try:
            result = simulate(settings.ozml, files, name, _json_field("text"), inputs,
                              policy=policy)
        except ValidationError as exc:
            abort(400, str(exc))
        return jsonify(state=result.state, wait=result.wait_seconds,
                       lines=[{"at": line.at, "text": line.text, "speak": line.speak}
                              for line in result.lines])

    @bp.get("/prompt.wav")
    def prompt() -> Response:
        """A spoken prompt as WAV, from the TTS cache (rendered into it on a miss)."""
        from ivr.voice import audio
        from ivr.voice.tts import Tts

        text = request.args.get("text", "")
        if not text or len(text) > 2000:
            abort(400, "text: 1-2000 characters")
        try:
            rate = int(request.args.get("rate") or 0)
        except ValueError:
            abort(400, "rate: words per minute")
        tts = Tts(settings.audio.cache_dir, settings.audio.tts_voice, settings.audio.tts_rate)
        try:
            data = tts.speak(text, request.args.get("voice", ""), rate)
        except IvrError as exc:
            abort(503, str(exc))
        return Response(audio.u8_to_wav(data), mimetype="audio/wav")

    def _json_field(key: str) -> str:
        body = request.get_json(silent=True)
        value = body.get(key) if isinstance(body, dict) else None
        if not isinstance(value, str):
            abort(400, f"{key}: a string in the JSON body")
        return value

    def _diagnostics(text: str, name: str) -> list[dict[str, object]]:
        return [{"severity": d.severity, "line": d.line, "col": d.col, "message": d.message}
                for d in lint_text(text, name)]

    # -- transports ----------------------------------------------------------------------
    @bp.get("/transports")
    def transports() -> str:
        template = "transports_rows.html" if _fragment() else "transports.html"
        return render_template(template, transports=_transport_rows(services),
                               page="transports", now=time.time())

    # -- users ---------------------------------------------------------------------------
    @bp.get("/users")
    def users_page() -> str:
        return render_template("users.html", users=users.list(),
                               permissions=sorted(PERMISSIONS), page="users")

    @bp.post("/users")
    def add_user() -> BaseResponse:
        return _user_action(lambda: users.add(
            request.form.get("name", "").strip(), request.form.get("password", ""),
            _form_permissions(), _form_rate()), "added {name}")

    @bp.post("/users/<name>")
    def update_user(name: str) -> BaseResponse:
        permissions = _form_permissions()
        if name == g.console_user.name and auth.ADMIN not in permissions:
            return _refuse("you cannot take admin away from yourself")
        return _user_action(lambda: users.update(name, permissions, _form_rate()) or
                            abort(404, "no such user"), "updated {name}")

    @bp.post("/users/<name>/remove")
    def remove_user(name: str) -> BaseResponse:
        if name == g.console_user.name:
            return _refuse("you cannot remove yourself")
        if not users.remove(name):
            abort(404, "no such user")
        log.info("console: %s removed user %s", g.console_user.name, name)
        flash(f"removed {name}")
        return redirect(url_for("console.users_page"))

    def _form_permissions() -> set[str]:
        return set(request.form.getlist("permissions"))

    def _form_rate() -> int:
        raw = request.form.get("rate_limit", "0").strip() or "0"
        if not raw.isdigit():
            raise ValidationError("rate_limit", "a whole number of requests a minute")
        return int(raw)

    def _refuse(message: str) -> BaseResponse:
        flash(message, "error")
        return redirect(url_for("console.users_page"))

    def _user_action(action: Callable[[], Any], done: str) -> BaseResponse:
        try:
            user = action()
        except ValidationError as exc:
            return _refuse(str(exc))
        log.info("console: %s %s", g.console_user.name, done.format(name=user.name))
        flash(done.format(name=user.name))
        return redirect(url_for("console.users_page"))

    return bp


def _transport_rows(services: Any) -> list[dict[str, Any]]:
    """Each transport's health (asked directly when the sms role runs in this process, else
    as the sms role last reported it), window in use and counts, from every process."""
    def by_transport(name: str) -> dict[str, float]:
        return {labels.get("transport", ""): value for labels, value in metrics.samples(name)}

    counts: dict[tuple[str, str], float] = {}
    for labels, value in metrics.samples("ivr_sms_total"):
        key = (labels.get("transport", ""), labels.get("status", ""))
        counts[key] = counts.get(key, 0.0) + value
    local = "sms" in metrics.local_roles()
    reported, in_flight = by_transport("ivr_transport_healthy"), \
        by_transport("ivr_transport_in_flight")
    signals = by_transport("ivr_transport_signal_dbm")
    rows = []
    for name, transport in services.sms.transports.items():
        health = transport.healthy() if local else reported.get(name)
        rows.append({
            "name": name, "kind": type(transport).__name__.removesuffix("Transport"),
            "healthy": None if health is None else bool(health),
            "in_flight": int(in_flight.get(name, 0)), "window": transport.max_in_flight,
            "signal": getattr(transport, "signal_dbm", None) if local else
            (int(signals[name]) if name in signals else None),
            "rate_limit": transport.rate_limit,
            **{status: int(counts.get((name, status), 0)) for status in
               ("queued", "sent", "delivered", "undelivered", "failed", "retry")}})
    return rows

"""Presets of the templated HTTP transport: the four provider APIs of the seeds, as data.

Each preset is the option dictionary :func:`ivr.sms.transports.http.from_dict` accepts, with
``%base_url%`` standing for the scheme, host, port and path taken from the transport URL
(``http+jsonapi://LOGIN:PASSWORD@sms.example.com`` -> ``http://sms.example.com``). Only the
credentials (and, for some, a sender) are left for the user to give.

Why each line is the way it is:

* ``acrobits-generic`` (seed 000, "Send Message"): the softphone posts the account's
  username/password with ``sms_to``/``sms_body`` (the names used by the document's example
  requests), plus ``content_type`` and ``disposition_notification`` which the server must store.
  2xx is success and ``sms_id`` is optional; a non-2xx body's ``message`` is the error.
* ``jsonapi`` (seed 001, "HTTP API message"): every argument goes in the query string of a POST,
  exactly as the document's examples do; ``data.id`` is the message id and
  ``data.attributes.status`` must be ``ok``; an ``errors`` array is a failure whatever the
  HTTP status (the document shows the error body without a status line).
* ``enswitch`` (seed 002, ``messages/text/send``): GET with ``;``-separated parameters as in the
  document's examples; success is ``responses[0].code == "204"``. No id is returned, so no
  delivery report can be matched: messages sent through Enswitch end in ``sent``.
* ``restcomm`` (seed 003): form POST to ``.../Accounts/{AccountSid}/SMS/Messages.json`` with
  HTTP Basic auth ``AccountSid:AuthToken``; ``sid`` is the message id; ``StatusCallback`` points
  at our own provider-DLR endpoint (``%dlr_url%``) so delivery reports come back.
"""

from __future__ import annotations

__all__ = ["PRESETS", "DEFAULT_PATHS"]

_ACROBITS_FORM = (
    "from=%account[username]%&password=%account[password]%&sms_to=%sms_to%&sms_body=%sms_body%"
    "&content_type=%content_type%&disposition_notification=%disposition_notification%"
)

PRESETS: dict[str, dict[str, str]] = {
    "acrobits-generic": {
        "send_url": "%base_url%",
        "post_data": _ACROBITS_FORM,
        "content_type": "application/x-www-form-urlencoded",
        "id_json_path": "sms_id",
        # the document's "GET method, XML" example answers a bare id ("afe3259dc234")
        "id_regex": r"\A\s*([0-9A-Za-z._-]{1,64})\s*\Z",
        "error_json_path": "message",
    },
    "jsonapi": {
        "send_url": (
            "%base_url%/api/message?_login=%account[username]%&_password=%account[password]%"
            "&destination_number=%sms_to%&body=%sms_body%&require_dlr=%require_dlr%"
            "&source_number=%sms_from%&request_id=%sms_id%"
        ),
        "method": "POST",
        "id_json_path": "data.id",
        "success_json": "data.attributes.status=ok",
        "error_json_path": "errors.0.detail,message",
    },
    "enswitch": {
        "send_url": (
            "%base_url%/api/json/messages/text/send/?auth_username=%account[username]%"
            ";auth_password=%account[password]%;stype=%stype%;snumber=%sms_from%"
            ";cnumber=%sms_to%;message=%sms_body%"
        ),
        "success_json": "responses.0.code=204",
        "error_json_path": "responses.0.message,message",
    },
    "restcomm": {
        "send_url": "%base_url%/2012-04-24/Accounts/%account[username]%/SMS/Messages.json",
        "post_data": "From=%sms_from%&To=%sms_to%&Body=%sms_body%&StatusCallback=%dlr_url%",
        "content_type": "application/x-www-form-urlencoded",
        "auth": "basic",
        "id_json_path": "sid",
        "error_json_path": "message",
        "dlr_kind": "restcomm",
    },
}

# Path used when the transport URL has none: the document's example paths.
DEFAULT_PATHS: dict[str, str] = {
    "acrobits-generic": "/send_message/",
    "jsonapi": "",
    "enswitch": "",
    "restcomm": "/api",
}

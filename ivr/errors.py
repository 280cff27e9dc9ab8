"""One error tree for the whole engine.

::

    IvrError
    ├── ConfigError            bad or missing setting (names the key and the file)
    ├── OzmlError              script problem at file:line:col (parse, schema, runtime fetch)
    │   └── OzmlFetchError     a GoTo/Request/ForwardToUrl fetch failed or looped
    ├── SmsError               a message cannot be accepted (bad number, too long, no route)
    │   └── ValidationError    one parameter is wrong; ``param`` names it
    ├── TransportError         a transport could not send; ``retryable`` decides retry vs. fail
    ├── StoreError             the durable store refused or lost a write
    ├── AuthError              unknown user, bad password, missing permission
    ├── ApiError               an HTTP API error in a dialect's own code space
    └── VoiceError             SIP/RTP/TTS/audio problem (registration, codec, file format)

Errors are values: each carries the fields a caller needs to render it (line numbers,
parameter names, dialect codes), never a pre-formatted traceback.
"""

from __future__ import annotations

__all__ = [
    "IvrError",
    "ConfigError",
    "OzmlError",
    "OzmlFetchError",
    "SmsError",
    "ValidationError",
    "TransportError",
    "StoreError",
    "AuthError",
    "ApiError",
    "VoiceError",
]


class IvrError(Exception):
    """Base of every error raised on purpose by ivr."""


class ConfigError(IvrError):
    """A setting is missing, malformed or contradicts another one."""


class OzmlError(IvrError):
    """A problem in an OzML document, located as ``source:line:col``."""

    def __init__(self, message: str, line: int = 0, col: int = 0, source: str = "<string>") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.col}: {self.message}"


class OzmlFetchError(OzmlError):
    """Fetching the next OzML document failed (network, HTTP status, hop limit)."""


class SmsError(IvrError):
    """A message cannot be accepted."""


class ValidationError(SmsError):
    """One input parameter is wrong; ``param`` is its public name."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class TransportError(IvrError):
    """A transport failed to send.

    ``code`` is the transport's own code (``CMS 330``, ``ESME_RTHROTTLED``, ``HTTP 503``);
    ``retryable`` tells the dispatcher whether to back off and retry or to fail the message.
    ``error_code`` is the Restcomm-style 300xx code stored on the message. ``in_doubt``
    says the peer may have taken the message although we never heard so (a link lost after
    the submit was written): resending at once could duplicate it, so the dispatcher holds
    it for the peer's report as after a crash.
    """

    def __init__(self, message: str, *, code: str = "", retryable: bool = True,
                 error_code: int = 30008, in_doubt: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.error_code = error_code
        self.in_doubt = in_doubt


class StoreError(IvrError):
    """The durable store could not complete an operation."""


class AuthError(IvrError):
    """Authentication or authorisation failed; ``reason`` is one of ``missing``,
    ``bad_credentials``, ``forbidden`` (e.g. address not allowed), ``rate_limited`` (address
    locked out after failed logins), ``not_permitted`` (the user lacks the permission) or
    ``over_limit`` (the user's request rate, ``limit`` per minute, is used up)."""

    def __init__(self, reason: str, message: str = "", *, limit: int = 0) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.limit = limit


class ApiError(IvrError):
    """An error to render in an HTTP API dialect: ``dialect_code`` is that dialect's code."""

    def __init__(self, dialect_code: int | str, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.dialect_code = dialect_code
        self.message = message
        self.http_status = http_status


class VoiceError(IvrError):
    """SIP, RTP, TTS or audio failure."""

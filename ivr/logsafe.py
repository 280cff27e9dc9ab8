"""Text from the network made safe to put in a log line.

A CR or LF in a URL, a header or a parameter would otherwise start a forged log line, and
credentials in a URL's userinfo would be written in clear. Pure helpers, shared by every
package (so they live at the top, not in api/ or sms/).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["escape", "redact_url"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str, limit: int = 512) -> str:
    """``text`` with every control character written as ``\\xNN``/``\\uNNNN``, cut at
    ``limit`` characters (marked with an ellipsis)."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), cut)


def redact_url(url: str) -> str:
    """``url`` with any password in its userinfo replaced by ``***`` (and escaped)."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            user = parts.username or ""
            url = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        pass
    return escape(url)

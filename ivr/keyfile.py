"""Secret keys kept in files under the data directory (callback signatures, console cookies).

Several processes of one installation (HTTP workers, roles) must use the same key, so it is
made once and read by all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["key_file"]


def key_file(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path``, created (64 random hex digits) if it does not exist yet."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start (no window where another user could read it), and
        # O_EXCL so two processes starting together keep one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()

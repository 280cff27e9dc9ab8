"""Unix sockets in ``data_dir`` that only our user may use (the wake-up, call control)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

__all__ = ["bind_private", "unlink_if_ours"]


def bind_private(path: Path, kind: int) -> tuple[socket.socket, int]:
    """A unix socket of ``kind`` bound to ``path`` with mode 0600 from the moment it is
    reachable there: bound under a temporary name, chmod-ed, then renamed over whatever a
    dead process left. Also returns its inode, for :func:`unlink_if_ours`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(str(temporary))
    os.chmod(temporary, 0o600)
    inode = os.stat(temporary).st_ino
    os.replace(temporary, path)
    return sock, inode


def unlink_if_ours(path: Path, inode: int) -> None:
    """Remove ``path`` unless a newer process has bound its own socket there meanwhile."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:
            path.unlink()

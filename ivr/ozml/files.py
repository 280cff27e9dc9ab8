"""Where ``<DeleteFile>``, ``<MoveFile>``, ``<Play>`` and ``RecordPath`` may touch the disk. Pure.

A script names files; it must never reach outside the directories the deployment gave it
(``[audio] recordings_dir`` and ``sounds_dir``). A name is resolved (``..`` and symlinks
followed) and refused unless the result lies inside one of the roots, so ``../../etc/passwd``,
an absolute path elsewhere and a symlink pointing out are all refused with the same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ivr.errors import IvrError

__all__ = ["ConfinementError", "confine"]


class ConfinementError(IvrError):
    """A file name that leaves the directories a script may use."""


def confine(name: str, roots: Sequence[str], *, what: str = "file") -> Path:
    """``name`` as a path inside one of ``roots`` (the first root for relative names).

    ``file://`` URIs (what ``$recordurl`` holds) are accepted as paths.
    """
    if not roots:
        raise ConfinementError(f"{what} {name!r}: no directories are configured for scripts")
    if name.startswith("file://"):
        name = unquote(urlsplit(name).path)
    if not name.strip() or "\0" in name:
        raise ConfinementError(f"{what} {name!r}: not a file name")
    resolved_roots = [Path(root).resolve() for root in roots]
    path = Path(name)
    candidate = (path if path.is_absolute() else resolved_roots[0] / path).resolve()
    for root in resolved_roots:
        if candidate == root:
            break
        if candidate.is_relative_to(root):
            return candidate
    allowed = " or ".join(str(root) for root in resolved_roots)
    raise ConfinementError(f"{what} {name!r} is outside {allowed}; scripts may only use "
                           "files there")

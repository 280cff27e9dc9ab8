"""The only configuration reader.

Configuration files are INI (``sip.conf.example`` is one). Each section fills one
subsystem's settings dataclass, defined next to the code that uses it::

    [sip]            -> Settings.sip    (ivr.voice.settings.SipSettings)
    [sip.dialplan]   -> Settings.sip.dialplan  (a dict field: every key is kept)
    [audio] [ozml] [sms] [sms.transports] [sms.routes] [http] [email] [ivr]

Values are coerced by the dataclass field's type (int, float, bool, str, list = comma
separated, dict = its own ``[section.field]``). An unknown section or key is an error that
names the file, section and key, so a typo never silently falls back to a default.
Several files may be given; later ones override earlier ones.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.api.settings import HttpSettings
from ivr.errors import ConfigError
from ivr.mail.settings import EmailSettings
from ivr.ozml.settings import OzmlSettings
from ivr.sms.settings import SmsSettings
from ivr.voice.settings import AudioSettings, SipSettings

__all__ = ["Settings", "GeneralSettings", "load_settings", "apply_overrides", "database_url"]


@dataclass
class GeneralSettings:
    data_dir: str = "var"
    log_level: str = "INFO"


@dataclass
class Settings:
    ivr: GeneralSettings = field(default_factory=GeneralSettings)
    sip: SipSettings = field(default_factory=SipSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    ozml: OzmlSettings = field(default_factory=OzmlSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    email: EmailSettings = field(default_factory=EmailSettings)


def database_url(settings: Settings) -> str:
    """The SMS store's URL: ``[sms] database_url``, or by default ``ivr.db`` in
    ``[ivr] data_dir``, made absolute so that the database is found wherever ``data_dir``
    is, whatever the working directory (two instances with different ``data_dir`` never
    share a database)."""
    if settings.sms.database_url:
        return settings.sms.database_url
    return f"sqlite:///{(Path(settings.ivr.data_dir) / 'ivr.db').resolve()}"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(raw: str, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw == "" and len(args) < len(typing.get_args(hint)):
            return None
        hint, origin = args[0], typing.get_origin(args[0])
    try:
        if hint is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"expected yes/no, got {raw!r}")
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if hint is str:
            return raw
        if origin is list:
            return [item.strip() for item in raw.split(",") if item.strip()]
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")


def _apply_section(target: Any, items: dict[str, str], where: str) -> None:
    hints = typing.get_type_hints(type(target))
    names = {f.name for f in dataclasses.fields(target)}
    for key, raw in items.items():
        name = key.strip().lower().replace("-", "_")
        if name not in names:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(names))})")
        hint = hints[name]
        if typing.get_origin(hint) is dict:
            raise ConfigError(f"{where}: {key!r} is a table; put it in its own [section.{name}]")
        setattr(target, name, _coerce(raw, hint, f"{where} {key}"))


def load_settings(paths: list[str | os.PathLike[str]] | None = None) -> Settings:
    """Read ``paths`` (in order) on top of the built-in defaults."""
    settings = Settings()
    for path in paths or []:
        parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case (dialplan numbers)
        try:
            with open(path, encoding="utf-8") as fh:
                parser.read_file(fh, source=str(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
        except configparser.Error as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for section in parser.sections():
            where = f"{Path(path).name} [{section}]"
            items = dict(parser.items(section))
            head, _, table = section.partition(".")
            group = getattr(settings, head.lower(), None)
            if group is None or not dataclasses.is_dataclass(group):
                known = ", ".join(f.name for f in dataclasses.fields(settings))
                raise ConfigError(f"{where}: unknown section (known: {known})")
            if table:
                current = getattr(group, table.lower().replace("-", "_"), None)
                if not isinstance(current, dict):
                    raise ConfigError(f"{where}: [{head}] has no table named {table!r}")
                current.clear()
                current.update(items)
            else:
                _apply_section(group, items, where)
    _place_in_data_dir(settings)
    return settings


# Files ivr writes, whose defaults live inside [ivr] data_dir unless set on their own: an
# instance with its own data_dir never writes into another's (recordings are callers' voices).
_IN_DATA_DIR = (("recordings_dir", "var/recordings", "recordings"),
                ("cache_dir", "var/cache/audio", "cache/audio"))


def _place_in_data_dir(settings: Settings) -> None:
    for name, default, inside in _IN_DATA_DIR:
        if getattr(settings.audio, name) == default:
            setattr(settings.audio, name, str(Path(settings.ivr.data_dir) / inside))


def apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """Apply ``{"sip.bind_port": 5070, ...}`` from command-line flags (None = not given)."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        head, _, name = dotted.partition(".")
        setattr(getattr(settings, head), name, value)
    return settings

"""The INI reader: every section fills its dataclass, typos are loud errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import Settings, apply_overrides, load_settings
from ivr.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "ivr.conf") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_files() -> None:
    settings = load_settings()
    assert settings.http.port == 9509
    assert settings.http.host == "127.0.0.1"
    assert settings.sms.transports == {"loopback": "loopback://"}


def test_sections_are_coerced_by_field_type(tmp_path: Path) -> None:
    path = write(tmp_path, """
[sip]
mode = register
bind_port = 5070
enabled = no

[http]
port = 8080

[sms]
retry_base_seconds = 0.5
callback_deny = 169.254.0.0/16, 10.0.0.0/8

[sms.transports]
gsm = modem:///dev/ttyUSB0?baudrate=115200
smsc = smpp://id:pw@127.0.0.1:2775

[sip.dialplan]
+3612345 = ozml_scripts/menu.xml
""")
    settings = load_settings([path])
    assert settings.sip.mode == "register"
    assert settings.sip.bind_port == 5070
    assert settings.sip.enabled is False
    assert settings.http.port == 8080
    assert settings.sms.retry_base_seconds == 0.5
    assert settings.sms.callback_deny == ["169.254.0.0/16", "10.0.0.0/8"]
    assert list(settings.sms.transports) == ["gsm", "smsc"]
    assert settings.sip.dialplan == {"+3612345": "ozml_scripts/menu.xml"}


def test_later_file_overrides_earlier(tmp_path: Path) -> None:
    first = write(tmp_path, "[http]\nport = 1000\nhost = 0.0.0.0\n", "a.conf")
    second = write(tmp_path, "[http]\nport = 2000\n", "b.conf")
    settings = load_settings([first, second])
    assert (settings.http.host, settings.http.port) == ("0.0.0.0", 2000)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[sip]\nbind_prot = 5060\n", "unknown key 'bind_prot'"),
        ("[smtp]\nhost = x\n", "unknown section"),
        ("[http]\nport = eighty\n", "port"),
        ("[sip]\nenabled = maybe\n", "expected yes/no"),
        ("[sip]\ndialplan = x\n", "own [section.dialplan]"),
        ("[sip.nothere]\na = b\n", "no table named 'nothere'"),
        ("no section header\n", "ivr.conf"),
    ],
)
def test_errors_name_file_section_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings([path])
    assert fragment in str(info.value)
    assert "ivr.conf" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings([tmp_path / "absent.conf"])


def test_overrides_skip_none() -> None:
    settings = apply_overrides(Settings(), {"http.port": 1234, "sip.bind_host": None})
    assert settings.http.port == 1234
    assert settings.sip.bind_host == "127.0.0.1"


def test_shipped_sip_conf_example_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    settings = load_settings([root / "sip.conf.example"])
    assert settings.sip.mode == "direct" and settings.sip.bind_host == "127.0.0.1"
    assert settings.sip.default_script == "ozml_scripts/menu.xml"


def test_serve_banner_hides_transport_passwords(capsys: pytest.CaptureFixture[str]) -> None:
    from ivr.commands.serve import _banner

    settings = Settings()
    settings.sip.enabled = settings.http.enabled = False
    settings.sms.transports = {"smsc": "smpp://ivr:topsecret@127.0.0.1:2775?window=10"}
    _banner(settings, None, ("sms",))
    out = capsys.readouterr().out
    assert "smsc=smpp://ivr:***@127.0.0.1:2775?window=10" in out
    assert "topsecret" not in out


def test_default_database_is_in_data_dir_and_absolute(tmp_path: Path) -> None:
    from ivr.config import database_url

    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "data")
    assert database_url(settings) == f"sqlite:///{tmp_path / 'data' / 'ivr.db'}"
    settings.ivr.data_dir = "relative"
    assert database_url(settings) == f"sqlite:///{Path.cwd() / 'relative' / 'ivr.db'}"
    settings.sms.database_url = "postgresql://u:p@db/ivr"
    assert database_url(settings) == "postgresql://u:p@db/ivr"


def test_recordings_and_cache_follow_data_dir_unless_set(tmp_path: Path) -> None:
    own = tmp_path / "a.conf"
    own.write_text(f"[ivr]\ndata_dir = {tmp_path}/a-data\n")
    settings = load_settings([own])
    assert settings.audio.recordings_dir == f"{tmp_path}/a-data/recordings"
    assert settings.audio.cache_dir == f"{tmp_path}/a-data/cache/audio"
    explicit = tmp_path / "b.conf"
    explicit.write_text(f"[ivr]\ndata_dir = {tmp_path}/b\n[audio]\nrecordings_dir = /srv/rec\n")
    assert load_settings([explicit]).audio.recordings_dir == "/srv/rec"
    assert load_settings([]).audio.recordings_dir == "var/recordings"

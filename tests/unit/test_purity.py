"""The module boundaries of docs/architecture.md, checked on the source and at run time.

* ``ivr.ozml`` imports nothing from ``voice``, ``sms`` or ``api`` (a pure language package);
* ``ivr.sms`` imports nothing from ``api``, ``voice`` or ``ozml``, including modules named in
  strings for importlib;
* ``ivr.api`` reaches calls only through the call-control seam: nothing from ``voice``.

The source check reads every module's imports and every string that names an ``ivr``
module; the run-time check imports every module of a package in a fresh interpreter and
looks at what got loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

IVR = Path(__file__).resolve().parents[2] / "ivr"

# package -> the ivr packages it must never reach
RULES = {"ozml": ("voice", "sms", "api", "mail"), "sms": ("api", "voice", "ozml"),
         "api": ("voice",)}


def _named_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for each import in ``path`` and each string naming an ivr module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if text.startswith("ivr.") and text.replace(".", "").replace("_", "").isalnum():
                found.append((node.lineno, text))
    return found


def _forbidden(module: str, banned: tuple[str, ...]) -> bool:
    return any(module == f"ivr.{b}" or module.startswith(f"ivr.{b}.") for b in banned)


@pytest.mark.parametrize("package", sorted(RULES))
def test_source_names_no_forbidden_module(package: str) -> None:
    banned = RULES[package]
    offences = [f"{path.relative_to(IVR.parent)}:{line}: {module}"
                for path in sorted((IVR / package).rglob("*.py"))
                for line, module in _named_modules(path) if _forbidden(module, banned)]
    assert offences == [], f"ivr.{package} must not use ivr.{{{','.join(banned)}}}"


def test_source_check_sees_importlib_strings(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('import importlib\nSCHEMES = {"sip": "ivr.voice.sip_message"}\n'
                     'from ivr.api import auth\n')
    assert [m for _, m in _named_modules(probe)] == ["importlib", "ivr.api",
                                                     "ivr.voice.sip_message"]


@pytest.mark.parametrize("package", sorted(RULES))
def test_importing_every_module_loads_no_forbidden_module(package: str) -> None:
    modules = sorted(".".join(p.relative_to(IVR.parent).with_suffix("").parts)
                     .removesuffix(".__init__")
                     for p in (IVR / package).rglob("*.py"))
    prefixes = tuple(f"ivr.{b}" for b in RULES[package])
    code = (f"import importlib, sys\nfor name in {modules!r}:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except ImportError as exc:\n"
            "        if not (exc.name or '').startswith('ivr'):\n"   # optional third party
            "            continue\n        raise\n"
            f"print(','.join(sorted(m for m in sys.modules if m.startswith({prefixes!r})"
            " and (m.split('.')[1] if '.' in m else '') in "
            f"{RULES[package]!r})))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == ""


def test_ozml_imports_no_io_libraries() -> None:
    code = (
        "import sys, ivr.ozml.interpreter, ivr.ozml.lint, ivr.ozml.memory\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('pyVoIP', 'flask', 'serial',"
        " 'smpplib')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == ""

"""ivr.ozml is a pure language package: it must not pull in the SIP, SMS or HTTP sides."""

from __future__ import annotations

import subprocess
import sys


def test_ozml_imports_nothing_from_voice_sms_or_api() -> None:
    code = (
        "import sys, ivr.ozml.interpreter, ivr.ozml.lint, ivr.ozml.memory\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('ivr.voice', 'ivr.sms', 'ivr.api',"
        " 'ivr.mail', 'pyVoIP', 'flask', 'serial', 'smpplib')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == ""

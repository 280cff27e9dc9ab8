"""Settings of the SIP side ([sip], [sip.dialplan]) and audio ([audio])."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SipSettings", "AudioSettings"]


@dataclass
class SipSettings:
    enabled: bool = True
    mode: str = "direct"            # "direct" (no registrar) | "register" (extension on a PBX)
    bind_host: str = "127.0.0.1"    # address we listen on and put in Via/Contact/SDP
    bind_port: int = 5060
    server: str = ""                # registrar / proxy (register mode)
    server_port: int = 5060
    username: str = ""
    password: str = ""
    register_expires: int = 120
    trunk: str = ""                 # host[:port] that carries outbound calls to plain numbers
    ring_timeout: float = 60.0      # outbound calls not answered by then are CANCELled
    max_setup_calls: int = 20       # incoming calls ringing or awaiting their ACK; then 503
    retry_after: int = 5            # seconds, in the Retry-After of that 503
    ack_timeout: float = 32.0       # RFC 3261 timer H (64·T1): no ACK for our 200 → BYE
    forward_mode: str = "redirect"  # Forward of a ringing call: "redirect" (302) | "proxy"
    rtp_port_low: int = 10000
    rtp_port_high: int = 20000
    default_script: str = "ozml_scripts/menu.xml"
    dialplan: dict[str, str] = field(default_factory=dict)   # called number -> script file/URL


@dataclass
class AudioSettings:
    sounds_dir: str = "ozml_scripts/sounds"   # relative Play paths resolve here
    cache_dir: str = "var/cache/audio"        # TTS + downloaded prompts (8 kHz u8)
    recordings_dir: str = "var/recordings"
    music_on_hold: str = ""                   # WAV file or URL looped while we hold a call
    tts_voice: str = "en"
    tts_rate: int = 170

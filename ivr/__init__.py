"""ivr: a self-hosted IVR engine that runs OzML scripts on SIP calls and sends SMS."""

__all__ = ["__version__"]

__version__ = "0.1.0"

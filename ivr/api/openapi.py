"""``/openapi.json``: the OpenAPI 3 description composed from each dialect module's paths."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from ivr import __version__

__all__ = ["build_openapi"]


def build_openapi(modules: Iterable[ModuleType]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for module in modules:
        for path, operations in getattr(module, "OPENAPI_PATHS", {}).items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.0.3",
        "info": {"title": "ivr HTTP API", "version": __version__,
                 "description": "Ozeki command API and the Acrobits, JSON:API, Enswitch and "
                                "Restcomm SMS APIs served by ivr (docs/http-api.md)."},
        "paths": paths,
    }

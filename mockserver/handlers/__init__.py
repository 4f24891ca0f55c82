"""HTTP handlers per resource group (moto's ``responses.py``): thin by design.

Each handler reads its parameters from the Call, calls one model method and
returns the result; the dispatcher turns it into the documented response.
``registry()`` collects them by operationId.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from importlib import import_module

from losant_kit.mockserver.dispatch import Handler

_REGISTRY: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if operation_id in _REGISTRY:
            raise ValueError(f"two handlers for {operation_id}")
        _REGISTRY[operation_id] = fn
        return fn

    return register


def registry() -> dict[str, Handler]:
    """Every handler of every module in this package, by operationId."""
    for module in pkgutil.iter_modules(__path__):
        import_module(f"{__name__}.{module.name}")
    return dict(_REGISTRY)

"""Platform profiles: what makes one platform's API differ from another's.

The engine asks the profile (``--platform``) for the spec, the error shape,
how a token is read from a request, the success envelope, the route prefix,
the default world and the handlers; it never branches on the platform's name.
``losant`` is the default and is served by the Losant-tuned app
(mockserver/app.py); ``ioto`` is served by the generic spec-driven engine
(profiles/engine.py).
"""

from __future__ import annotations

import importlib

from losant_kit.mockserver.profiles.base import Profile

#: --platform value -> module:attribute of its profile (imported only when chosen).
PLATFORMS: dict[str, str] = {
    "losant": "losant_kit.mockserver.profiles.losant:PROFILE",
    "ioto": "losant_kit.mockserver.profiles.ioto:PROFILE",
}


def profile_for(name: str) -> Profile:
    """The profile called ``name`` (ValueError for an unknown platform)."""
    try:
        target = PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}") from None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


__all__ = ["PLATFORMS", "Profile", "profile_for"]

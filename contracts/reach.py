"""Who could reach what, read from the spec's scopes (no hand lists).

The auth suite presents every credential kind in every state and tries every
operation a credential could address with ids it was not granted. What those
operations are follows from the spec alone: an operation is *reachable* by a
credential when its ``x-scopes`` share a scope with the credential's. The
tables here turn ``spec_view.operations()`` into:

* the credential kinds with the scopes they carry whole and narrowed;
* per kind, every reachable operation, and a representative read (and write)
  per resource group (``device`` in ``device.getState``);
* the path parameters that say whose resource an operation addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from losant_kit.contracts.spec_view import SpecOperation, operations


@dataclass(frozen=True)
class Kind:
    name: str
    scopes: frozenset[str]  # what a fresh credential of this kind carries
    narrowed: frozenset[str]  # the read-only subset it can be narrowed to


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("user token", frozenset({"all.User"}), frozenset({"all.User.read"})),
    Kind("device token", frozenset({"all.Device"}), frozenset({"all.Device.read"})),
    Kind("application API token", frozenset({"all.Application"}),
         frozenset({"all.Application.read"})),
    Kind("user API token", frozenset({"all.User"}), frozenset({"all.User.read"})),
)}
# Every state a credential is presented in, and what the platform documents for it.
STATES = ("valid", "expired", "revoked", "deactivated", "narrowed", "tampered", "garbage",
          "absent")
# States a kind has no way into (the platform has no such transition for it).
NOT_APPLICABLE = {"user token": {"deactivated"}}


def states_of(kind: str) -> list[str]:
    return [s for s in STATES if s not in NOT_APPLICABLE.get(kind, set())]


def group_of(op: SpecOperation) -> str:
    return op.id.split(".", 1)[0]


def is_read(op: SpecOperation) -> bool:
    return op.method == "GET"


def path_params(op: SpecOperation) -> list[str]:
    import re

    return re.findall(r"\{([^}]+)\}", op.path)


@cache
def reachable(scopes: frozenset[str]) -> tuple[SpecOperation, ...]:
    """Every protected, non-streaming operation that accepts one of ``scopes``."""
    return tuple(op for op in sorted(operations().values(), key=lambda o: o.id)
                 if op.scopes & scopes and not op.sse)


def preference(op: SpecOperation) -> tuple:
    """Cheap and harmless first: no removal, no background job (202), no throttle,
    the group's own ``get``, fewest path parameters; then by id, so it is stable."""
    action = op.id.split(".", 1)[1]
    return (op.method == "DELETE" or "delete" in action.lower(), 202 in op.documented,
            op.throttle is not None, action != "get", len(path_params(op)), op.id)


@cache
def representatives(kind: str) -> dict[str, SpecOperation]:
    """One read per resource group the kind reaches (a write where a group has no read)."""
    chosen: dict[str, SpecOperation] = {}
    for op in sorted(reachable(KINDS[kind].scopes), key=lambda o: (not is_read(o),
                                                                    preference(o))):
        chosen.setdefault(group_of(op), op)
    return dict(sorted(chosen.items()))


@cache
def narrowed_pairs(kind: str) -> dict[str, tuple[SpecOperation | None, SpecOperation | None]]:
    """Per group: an operation the narrowed credential still reaches, and one it loses."""
    whole, narrow = KINDS[kind].scopes, KINDS[kind].narrowed
    pairs: dict[str, tuple[SpecOperation | None, SpecOperation | None]] = {}
    for group in representatives(kind):
        ops = sorted((o for o in reachable(whole) if group_of(o) == group), key=preference)
        kept = next((o for o in ops if o.scopes & narrow), None)
        lost = next((o for o in ops if not o.scopes & narrow), None)
        pairs[group] = (kept, lost)
    return pairs


@cache
def addressed_by(parameter: str, scopes: frozenset[str]) -> tuple[SpecOperation, ...]:
    """The reachable operations whose path names ``parameter`` (``deviceId``, ...)."""
    return tuple(op for op in reachable(scopes) if parameter in path_params(op))

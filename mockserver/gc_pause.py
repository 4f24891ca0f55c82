"""The garbage collector while the mock starts.

Building the app allocates a few hundred thousand container objects (the
spec and Connexion's resolved copy of it, validators, routes, the world)
that live as long as the app. With the collector on, those allocations
trigger hundreds of collections, several of them full passes over the whole
heap, and find almost nothing to free (about 2,000 objects, 0.5 MB, of a
default start): measured, a third of start-up's CPU. Reference counting still
frees everything that is not part of a cycle while the collector is off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside; the collector's previous state after.

    What was allocated meanwhile is examined by the next collections as
    usual, so nothing is kept that would otherwise be freed. Usable as a
    decorator.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def settle_server_process() -> None:
    """In a server process, after start-up: stop scanning the start-up objects.

    ``gc.freeze()`` moves every object allocated so far out of the
    collector's generations, so later collections on the request path scan
    only what requests allocate (a full pass over the start-up objects
    stalled the event loop 140-160 ms of CPU while MQTT devices published).
    The price is that the start-up's few cyclic
    leftovers (see above) are never collected. Only for a process that runs
    one app for its whole life (``losant-mock serve``): a test process that
    builds many apps would keep every one of them.
    """
    gc.freeze()
    gc.enable()

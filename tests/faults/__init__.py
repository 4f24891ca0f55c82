"""A test-only fault layer: the mock with one deliberate defect each.

Never shipped in the mock. Each variant in ``variants`` is a zero-argument
factory (usable as ``--losant-app-factory tests.faults.variants:NAME``) that
builds a normal in-process mock and breaks it in one way, either by wrapping
the ASGI app (``middleware``: rewrite a response) or by patching a model
method on that one app instance (never globally, so variants sit side by side).
"""

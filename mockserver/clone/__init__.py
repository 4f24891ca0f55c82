"""``losant-mock clone``: a live application, read through the API, as a world file.

``command`` (arguments, safety checks, the run), ``reader`` (read-only,
rate-limited HTTP), ``source`` (what is read, in what order), ``writer``
(API records to world records, streamed to YAML or JSON), ``progress``.
"""

"""The stateful mock of the EmbedThis Ioto device-cloud API (``--platform ioto``).

It runs on the spec-driven engine (mockserver/profiles/engine.py) with the spec
in specs/ioto/; ``state.py`` holds the cloud, the other modules its models.
"""

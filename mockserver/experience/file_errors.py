"""The refusals of an experience API file (kept import-light: the CLI parser uses them)."""

from __future__ import annotations


class ApiFileError(ValueError):
    """The file cannot be served: ``pointer`` (a JSON pointer) says where, ``message`` what."""

    def __init__(self, source: str, pointer: str, message: str) -> None:
        self.source, self.pointer, self.message = source, pointer, message
        super().__init__(f"{source}: {pointer or '/'}: {message}")


class BindingError(ValueError):
    """An ``--experience``/``--experience-app`` pair that cannot be applied."""

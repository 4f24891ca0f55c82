"""The mock's error hierarchy.

Models raise these; one handler in the app turns any of them into the
platform's wire shape ``{"type": ..., "message": ...}`` with the status code
the class carries. Nothing else in the mock builds an error body.
"""

from __future__ import annotations


class PlatformError(Exception):
    """Base class: an error the platform reports to its client."""

    status: int = 400
    type: str = "Error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


class ValidationError(PlatformError):
    status = 400
    type = "Validation"


class BadRequest(PlatformError):
    status = 400
    type = "BadRequest"


class Unauthorized(PlatformError):
    status = 401
    type = "Unauthorized"


class Forbidden(PlatformError):
    status = 403
    type = "Forbidden"


class NotFound(PlatformError):
    status = 404
    type = "NotFound"

    @classmethod
    def resource(cls, kind: str, ident: str) -> NotFound:
        return cls(f"{kind} was not found: {ident}")


class Conflict(PlatformError):
    status = 409
    type = "Conflict"


class PayloadTooLarge(PlatformError):
    status = 413
    type = "PayloadTooLarge"


class Unprocessable(PlatformError):
    status = 422
    type = "UnprocessableEntity"


class Throttled(PlatformError):
    status = 429
    type = "TooManyRequests"

    def __init__(self, message: str, *, retry_after: float) -> None:
        # Retry-After is whole seconds; round up so a client that waits exactly
        # that long always finds a free slot.
        seconds = max(1, int(-(-retry_after // 1)))
        super().__init__(message, headers={"Retry-After": str(seconds)})
        self.retry_after = retry_after

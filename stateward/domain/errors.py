"""Domain errors. Adapters translate them to each protocol's own error shape."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a use case raises for a caller's mistake or a conflict."""

    status = 400
    kind = "BadRequest"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind


class InvalidInput(DomainError):
    status = 400
    kind = "BadRequest"


class NotAuthenticated(DomainError):
    status = 401
    kind = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    kind = "Forbidden"


class NotFound(DomainError):
    status = 404
    kind = "NotFound"


class Conflict(DomainError):
    status = 409
    kind = "Conflict"


class TooManyRequests(DomainError):
    """The caller is throttled; ``retry_after`` says for how many seconds (Retry-After)."""

    status = 429
    kind = "TooManyRequests"

    def __init__(self, message: str, *, retry_after: int, kind: str | None = None) -> None:
        super().__init__(message, kind=kind)
        self.retry_after = retry_after

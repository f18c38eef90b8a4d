"""Errors every layer may raise.

Each names a *kind* of failure. The wire layer turns a kind into the error shape of the
service that was called (Pinpoint's BadRequestException, Lambda's
InvalidParameterValueException, ...), so code below the API never needs to know which
service it serves. A specific error shape can still be asked for with ``code``.
"""


class TidingsError(Exception):
    kind = "internal"

    def __init__(self, message: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra


class InvalidInput(TidingsError):
    kind = "invalid"


class NotFound(TidingsError):
    kind = "not_found"


class Conflict(TidingsError):
    kind = "conflict"


class Forbidden(TidingsError):
    kind = "forbidden"


class TooLarge(TidingsError):
    kind = "too_large"


class Throttled(TidingsError):
    kind = "throttled"


class Unsupported(TidingsError):
    kind = "unsupported"

"""One error root with a small tree; the HTTP layer maps each class to a status."""

from __future__ import annotations


class TimelineError(Exception):
    """Root of every error the engine raises on purpose."""

    status = 500
    code = "internal_error"
    retriable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(TimelineError):
    """The request is malformed or breaks a rule: a 4xx that writes nothing."""

    status = 400
    code = "invalid_request"


class NotFound(TimelineError):
    """The user, tweet or other object does not exist."""

    status = 404
    code = "not_found"


class Conflict(TimelineError):
    """The request collides with existing state (a taken handle, a key in flight)."""

    status = 409
    code = "conflict"


class Busy(Conflict):
    """The same request is still in progress elsewhere; try again after retry_after_s."""

    def __init__(self, message: str, *, code: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class UnsupportedMediaType(TimelineError):
    """A body in a media type the API does not read (JSON and msgpack only)."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(TimelineError):
    """The request is well-formed but cannot be processed as sent (a reused key)."""

    status = 422
    code = "unprocessable"


class Forbidden(TimelineError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class Unauthorized(TimelineError):
    """No valid service token."""

    status = 401
    code = "unauthorized"


class RateLimited(TimelineError):
    """The user posted more than its limit allows; try again after retry_after_s."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(TimelineError):
    """A dependency (the log or the store) cannot answer now; try again later."""

    status = 503
    code = "unavailable"
    retriable = True

    def __init__(self, message: str, *, code: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class LogUnavailable(Unavailable):
    """The event log did not acknowledge an append."""

    code = "log_unavailable"


class StoreUnavailable(Unavailable):
    """The projection store did not answer."""

    code = "store_unavailable"


class StoreRejected(TimelineError):
    """The projection store refused a statement for good (syntax, schema, permissions):
    trying it again cannot succeed, so no consumer retries it."""

    code = "store_rejected"


class ClockMovedBackwards(Unavailable):
    """The wall clock went back; no id is issued until it catches up."""

    code = "clock_moved_backwards"


class IdsUnavailable(Unavailable):
    """This process holds no worker-id lease that covers the current time; no id is issued."""

    code = "ids_unavailable"


class LeaseLost(TimelineError):
    """A worker-id lease is no longer held by the one renewing or releasing it."""

    code = "lease_lost"


class PoisonEvent(TimelineError):
    """An event in the log cannot be decoded (bad bytes or unknown schema version)."""

    code = "poison_event"


class EventTooNew(PoisonEvent):
    """An event of a type or schema version newer than this code reads: a consumer stops at it
    rather than skip it, until it runs a version that reads it."""

    code = "event_too_new"

"""What a POS call can end in, besides success. Adapters and the POS client raise these; the sync
engine and order service decide what each means for a store (fallback, retry later, alert)."""

from __future__ import annotations

from typing import Any


class PosError(Exception):
    """Base of every POS failure. `endpoint` is the endpoint class (docs/pos/README.md)."""

    code = "POS_ERROR"

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, endpoint={self.endpoint!r}, status={self.status!r})"


class PosUnavailable(PosError):
    """The POS could not be reached, timed out, or answered 5xx after the retries allowed."""

    code = "POS_UNAVAILABLE"


class PosRateLimited(PosError):
    code = "POS_RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after  # the raw header: seconds or an HTTP date


class PosAuthFailed(PosError):
    """401/403: the credentials are wrong, revoked, or lack a permission. Retrying cannot help."""

    code = "POS_AUTH_FAILED"


class PosRejected(PosError):
    """The POS understood the request and refused it (unknown product, no stock, bad order)."""

    code = "POS_REJECTED"


class PosProtocolError(PosError):
    """The answer did not parse or did not have the shape the dialect promises."""

    code = "POS_PROTOCOL_ERROR"


class PosNotFound(PosError):
    code = "POS_NOT_FOUND"


class RecordInvalid(ValueError):
    """One vendor record cannot be mapped to a canonical product. The sync quarantines it with
    `reason` and the raw record, and carries on with the others."""

    def __init__(self, reason: str, record: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record

"""The error hierarchy and the handlers that turn every failure into the error envelope.

Services raise subclasses of `RidgelineError`; each class carries its HTTP status and stable code.
Every code is documented in `docs/errors.md` (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ridgeline.monitoring.context import current_request_id

log = structlog.get_logger(__name__)


class RidgelineError(Exception):
    """Base of every error an API caller can see."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# 400
class MalformedJSON(RidgelineError):
    status_code = 400
    code = "MALFORMED_JSON"
    default_message = "The request body is not valid JSON."


class BadRequest(RidgelineError):
    status_code = 400
    code = "BAD_REQUEST"
    default_message = "The request could not be understood."


class InvalidHost(RidgelineError):
    status_code = 400
    code = "INVALID_HOST"
    default_message = "The Host header names no host this server answers for."


class PosEventInvalid(RidgelineError):
    status_code = 400
    code = "POS_EVENT_INVALID"
    default_message = "The webhook body is not an event of this store's POS."


class IdempotencyKeyMissing(RidgelineError):
    status_code = 400
    code = "IDEMPOTENCY_KEY_MISSING"
    default_message = "Send an Idempotency-Key header (a new random value for each new order)."


class IdempotencyKeyInvalid(RidgelineError):
    status_code = 400
    code = "IDEMPOTENCY_KEY_INVALID"
    default_message = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."


# 401
class AuthenticationRequired(RidgelineError):
    status_code = 401
    code = "AUTHENTICATION_REQUIRED"
    default_message = "This endpoint needs an access token or a kiosk API key."


class InvalidCredentials(RidgelineError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    default_message = "The email or password is wrong."


class InvalidToken(RidgelineError):
    status_code = 401
    code = "INVALID_TOKEN"
    default_message = "The token or API key is not valid."


class TokenExpired(RidgelineError):
    status_code = 401
    code = "TOKEN_EXPIRED"
    default_message = "The token has expired; refresh it or sign in again."


class TokenRevoked(RidgelineError):
    status_code = 401
    code = "TOKEN_REVOKED"
    default_message = "The token has been revoked; sign in again."


class InvalidWebhookToken(RidgelineError):
    status_code = 401
    code = "INVALID_WEBHOOK_TOKEN"
    default_message = "This webhook URL is not valid; copy it again from GET .../pos/webhooks."


# 403
class Forbidden(RidgelineError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class PosWebhookShopMismatch(RidgelineError):
    status_code = 403
    code = "POS_WEBHOOK_SHOP_MISMATCH"
    default_message = "The event names another shop than the one this store is connected to."


# 404
class NotFound(RidgelineError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "The requested object does not exist."

    def __init__(self, resource: str, resource_id: object | None = None) -> None:
        details: dict[str, Any] = {"resource": resource}
        if resource_id is not None:
            details["id"] = str(resource_id)
        super().__init__(f"{resource.replace('_', ' ').capitalize()} not found.", details=details)


class RouteNotFound(RidgelineError):
    status_code = 404
    code = "ROUTE_NOT_FOUND"
    default_message = "No endpoint answers at this path."


# 405
class MethodNotAllowed(RidgelineError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "This endpoint does not accept that HTTP method."


# 409
class Conflict(RidgelineError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class AlreadyExists(Conflict):
    code = "ALREADY_EXISTS"
    default_message = "An object with the same unique value already exists."


class NotEmpty(Conflict):
    code = "NOT_EMPTY"
    default_message = "The object still has children; remove them first."


class PosNotConfigured(Conflict):
    code = "POS_NOT_CONFIGURED"
    default_message = "This store has no POS configured; set it with PUT /api/v1/stores/{id}/pos."


class SyncInProgress(Conflict):
    code = "SYNC_IN_PROGRESS"
    default_message = "A sync of this kind is already running or queued for this store."


class RecoveryInProgress(Conflict):
    code = "RECOVERY_IN_PROGRESS"
    default_message = "A recovery run of this store is already running; follow it in recovery-runs."


class StorePaused(Conflict):
    code = "STORE_PAUSED"
    default_message = "An operator paused this store: it takes no orders until it is resumed."


class PosWebhooksUnsupported(Conflict):
    code = "POS_WEBHOOKS_UNSUPPORTED"
    default_message = "This store's POS does not push webhooks; its catalog follows on schedule."


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"
    default_message = (
        "A request with this Idempotency-Key is still being processed; retry after it finishes."
    )


class ProductUnavailable(Conflict):
    code = "PRODUCT_UNAVAILABLE"
    default_message = "An item of the order is not available at this store."


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    default_message = "An item of the order is not in stock for the quantity asked."


class PriceChanged(Conflict):
    code = "PRICE_CHANGED"
    default_message = (
        "A price changed since the kiosk showed it; confirm the current prices and order again."
    )


class OrderNotCancellable(Conflict):
    code = "ORDER_NOT_CANCELLABLE"
    default_message = "The order can no longer be cancelled."


class OrderNotRetryable(Conflict):
    code = "ORDER_NOT_RETRYABLE"
    default_message = "Only a failed order can be retried."


class IncidentPublished(Conflict):
    code = "INCIDENT_PUBLISHED"
    default_message = "The incident is public; resolve it with an update instead of deleting it."


class IncidentClosed(Conflict):
    code = "INCIDENT_CLOSED"
    default_message = "The incident is resolved or completed; open a new one."


# 410
class CatalogResyncRequired(RidgelineError):
    status_code = 410
    code = "CATALOG_RESYNC_REQUIRED"
    default_message = (
        "The changes since this cursor are no longer available; reload the catalog "
        "(GET /api/v1/catalog) and continue from its meta.catalog.position.cursor."
    )


# 413, 415
class PayloadTooLarge(RidgelineError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class UnsupportedMediaType(RidgelineError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Send the request body as application/json."


# 422
class ValidationFailed(RidgelineError):
    status_code = 422
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."

    @classmethod
    def for_fields(cls, fields: Sequence[Mapping[str, Any]]) -> ValidationFailed:
        return cls(details={"fields": list(fields)})


class IdempotencyKeyReused(RidgelineError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = (
        "This Idempotency-Key was used with a different request body; use a new key for a new "
        "request."
    )


class OrderLimitExceeded(RidgelineError):
    status_code = 422
    code = "ORDER_LIMIT_EXCEEDED"
    default_message = "The order is over a per-order limit."


class PurchaseLimitExceeded(RidgelineError):
    status_code = 422
    code = "PURCHASE_LIMIT_EXCEEDED"
    default_message = (
        "The order is over a purchase limit of the store's jurisdiction; `details.categories` "
        "says which, and by how much."
    )


class ComplianceDataMissing(RidgelineError):
    status_code = 422
    code = "COMPLIANCE_DATA_MISSING"
    default_message = (
        "A product has no weight or potency in the catalog, which the store's purchase limits "
        "need; it cannot be ordered until the POS provides it."
    )


class MedicalOrderRequired(RidgelineError):
    status_code = 422
    code = "MEDICAL_ORDER_REQUIRED"
    default_message = "An item is for medical patients only; it needs an order with is_medical."


# 429
class RateLimited(RidgelineError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests; slow down."

    def __init__(
        self,
        retry_after_s: int,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """`details` adds to `retry_after_s` (an API rate limit names its `policy` and `limit`)."""
        super().__init__(
            message,
            details={**(details or {}), "retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )


# 500, 503
class InternalError(RidgelineError):
    pass


class PosReadFailed(RidgelineError):
    status_code = 502
    code = "POS_READ_FAILED"
    default_message = "The store's POS could not be read; try again later."


class PosWebhookRegistrationFailed(RidgelineError):
    status_code = 502
    code = "POS_WEBHOOK_REGISTRATION_FAILED"
    default_message = "The store's POS did not accept our webhook registration; try again later."


class PosCancelFailed(RidgelineError):
    status_code = 502
    code = "POS_CANCEL_FAILED"
    default_message = "The store's POS could not be reached to cancel the order; try again later."


class DatabaseBusy(RidgelineError):
    status_code = 503
    code = "DATABASE_BUSY"
    default_message = "The database is busy; nothing was saved. Try again in a moment."
    retry_after_s = 1

    def __init__(self, message: str | None = None, *, details: Mapping[str, Any] | None = None):
        super().__init__(message, details=details, headers={"Retry-After": str(self.retry_after_s)})


class NotReady(RidgelineError):
    status_code = 503
    code = "NOT_READY"
    default_message = "The service is not ready to take traffic."
    retry_after_s = 5

    def __init__(self, message: str | None = None, *, details: Mapping[str, Any] | None = None):
        super().__init__(message, details=details, headers={"Retry-After": str(self.retry_after_s)})


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The error envelope; every error response body has exactly this shape."""
    full_details = dict(details or {})
    request_id = current_request_id()
    if request_id is not None:
        full_details["request_id"] = request_id
    return {"status": "error", "error": {"code": code, "message": message, "details": full_details}}


def error_response(error: RidgelineError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status_code,
        headers=error.headers or None,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        fields.append({"loc": loc, "message": err.get("msg", ""), "type": err.get("type", "")})
    return fields


async def _handle_ridgeline_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RidgelineError)
    return error_response(exc)


async def _handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return error_response(MalformedJSON())
    return error_response(ValidationFailed.for_fields(_field_errors(exc)))


_HTTP_STATUS_ERRORS: dict[int, type[RidgelineError]] = {
    400: BadRequest,
    404: RouteNotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


async def _handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    """Framework-raised HTTP errors (unknown route, wrong method, unreadable body)."""
    assert isinstance(exc, StarletteHTTPException)
    error_class = _HTTP_STATUS_ERRORS.get(exc.status_code)
    error = error_class() if error_class is not None else InternalError()
    if error_class is None:
        log.error("unmapped_http_error", status=exc.status_code, detail=str(exc.detail))
    response = error_response(error)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RidgelineError, _handle_ridgeline_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)

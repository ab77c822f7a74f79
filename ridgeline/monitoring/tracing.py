"""OpenTelemetry traces, when the `otel` extra is installed and tracing is configured
(docs/monitoring.md#traces).

A kiosk's request, the job it queues and the POS calls that job makes form one trace: `enqueue`
stores the current span's W3C `traceparent` on the job row, and the worker starts the job's span
as that context's child. Spans come from this module's own tracer provider, not OpenTelemetry's
global one (which can be set once per process): tests replace it, and a library that sets the
global provider does not change where ours export.

Until `configure_tracing` sets a provider up, and always without the extra, every helper here is
a no-op that returns at its first line: the untraced path costs an attribute read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Literal

import structlog

from ridgeline.config import Settings

try:
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    OTEL_INSTALLED = True
except ImportError:  # the extra is not installed: tracing stays off
    OTEL_INSTALLED = False

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    OTLP_INSTALLED = True
except ImportError:
    OTLP_INSTALLED = False

if TYPE_CHECKING:
    # Annotations only (they are never evaluated): callers name `tracing.Span` without the extra.
    from opentelemetry.trace import Span as Span
    from opentelemetry.trace import Tracer

log = structlog.get_logger(__name__)

AttributeValue = str | int | float | bool
SpanKindName = Literal["server", "client", "consumer", "internal"]
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


class _Tracing:
    """The process's tracer, or None while tracing is off."""

    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_TRACING = _Tracing()


def configure_tracing(
    settings: Settings, *, role: str = "api", exporter: SpanExporter | None = None
) -> bool:
    """Turns tracing on when `RIDGELINE_OTEL_EXPORTER_OTLP_ENDPOINT` is set (OTLP over HTTP,
    batched) or an `exporter` is given (spans handed over as each ends: for tests). Returns
    whether spans are now recorded. A second call replaces the first's provider."""
    reset_tracing()
    endpoint = settings.otel_exporter_otlp_endpoint
    if exporter is None and endpoint is None:
        return False
    if not OTEL_INSTALLED or (exporter is None and not OTLP_INSTALLED):
        log.warning(
            "tracing_unavailable",
            reason="the otel extra is not installed: pip install 'ridgeline[otel]'",
        )
        return False
    resource = Resource.create({"service.name": settings.otel_service_name, "ridgeline.role": role})
    provider = TracerProvider(resource=resource, shutdown_on_exit=exporter is None)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        assert endpoint is not None
        otlp = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(otlp))
    _TRACING.provider = provider
    _TRACING.tracer = provider.get_tracer("ridgeline")
    log.info("tracing_configured", endpoint=endpoint, service=settings.otel_service_name)
    return True


def reset_tracing() -> None:
    """Turns tracing off, exporting what the current provider still holds."""
    provider = _TRACING.provider
    _TRACING.provider = None
    _TRACING.tracer = None
    if provider is not None:
        provider.shutdown()


def tracing_enabled() -> bool:
    return _TRACING.tracer is not None


def start_span(
    name: str,
    kind: SpanKindName,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> AbstractContextManager[Span | None]:
    """A span made current for the block (None while tracing is off). With a `traceparent` its
    parent is that remote context (a caller's header, a job row's column); otherwise the current
    span. An exception leaving the block is recorded on it, and its status set to ERROR."""
    tracer = _TRACING.tracer
    if tracer is None:
        return nullcontext()
    return _started(tracer, name, kind, attributes, traceparent, tracestate)


@contextmanager
def _started(
    tracer: Tracer,
    name: str,
    kind: SpanKindName,
    attributes: Mapping[str, AttributeValue] | None,
    traceparent: str | None,
    tracestate: str | None,
) -> Iterator[Span]:
    context = None
    if traceparent is not None:
        carrier = {TRACEPARENT: traceparent}
        if tracestate is not None:
            carrier[TRACESTATE] = tracestate
        # An invalid header yields an empty context: the span starts a new trace.
        context = TraceContextTextMapPropagator().extract(carrier)
    with tracer.start_as_current_span(
        name, context=context, kind=_KINDS[kind], attributes=attributes
    ) as span:
        yield span


def current_traceparent() -> str | None:
    """The current span's W3C `traceparent`, to carry its trace across a process boundary (a job
    row); None while tracing is off or outside any span."""
    if _TRACING.tracer is None:
        return None
    if not otel_trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT)


def set_attributes(span: Span | None, attributes: Mapping[str, AttributeValue | None]) -> None:
    """Sets the attributes that have a value (None ones are left off)."""
    if span is None:
        return
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(key, value)


def update_name(span: Span | None, name: str) -> None:
    if span is not None:
        span.update_name(name)


def mark_failed(span: Span | None, error: BaseException | str) -> None:
    """Status ERROR, with the exception recorded as an event (or the description given)."""
    if span is None:
        return
    if isinstance(error, BaseException):
        span.record_exception(error)
        description = f"{type(error).__name__}: {error}"
    else:
        description = error
    span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, description[:500]))


def current_span() -> Span | None:
    """The current span while tracing is on (for code that did not start it)."""
    if _TRACING.tracer is None:
        return None
    span = otel_trace.get_current_span()
    return span if span.get_span_context().is_valid else None


if OTEL_INSTALLED:
    _KINDS = {
        "server": otel_trace.SpanKind.SERVER,
        "client": otel_trace.SpanKind.CLIENT,
        "consumer": otel_trace.SpanKind.CONSUMER,
        "internal": otel_trace.SpanKind.INTERNAL,
    }

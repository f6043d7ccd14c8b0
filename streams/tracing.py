"""W3C trace context through the service (docs/contract.md §11): taken from the HTTP request at ingress
(or started there), carried in the command's Kafka headers, continued by the worker onto its event's
headers, and sent with the callback request. Spans are exported over OTLP only when the standard
OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set; without it the ids are still made and carried.

Only a record that carries a `traceparent` gets a span in the worker: untraced traffic costs nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
MAX_HEADER_BYTES = 256  # a traceparent is 55 characters; anything much longer is not one
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = "jobstream"


def configure(service_name: str, environ: Mapping[str, str] | None = None) -> None:
    """This process's tracer provider (once, at start): ids always, an OTLP exporter when configured."""
    env = os.environ if environ is None else environ
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def traceparent_in(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> str | None:
    """The `traceparent` of Kafka record headers, if one is there and plausible (producers are untrusted:
    a malformed one is ignored by the propagator later, an oversized one here)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name == TRACEPARENT and value is not None and len(value) <= MAX_HEADER_BYTES:
            return value.decode("ascii", "replace")
    return None


def record_headers(traceparent: str | None) -> tuple[tuple[str, bytes], ...]:
    return ((TRACEPARENT, traceparent.encode()),) if traceparent else ()


def current_traceparent() -> str | None:
    """The caller's active trace (e.g. an instrumented application using the client), if any."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


@contextmanager
def span(name: str, parent: str | None, *, root: bool = False, **attributes: str) -> Iterator[str | None]:
    """A span continuing `parent`; yields the traceparent to put on what it produces.

    Without a parent: a new trace when `root` (the HTTP ingress starts one), else no span at all."""
    if parent is None and not root:
        yield None
        return
    parent_context = _PROPAGATOR.extract({TRACEPARENT: parent}) if parent else context.Context()
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(name, context=parent_context, attributes=attributes):
        yield current_traceparent()


def mark(name: str, parent: str | None, started_ms: int | None = None, **attributes: str) -> str | None:
    """A finished span under `parent` from `started_ms` (e.g. the record's Kafka timestamp: its wait and
    processing) to now; the traceparent for what it produced. None, and no span, without a parent."""
    if parent is None:
        return None
    tracer = trace.get_tracer(_TRACER)
    start_ns = started_ms * 1_000_000 if started_ms else time.time_ns()
    new = tracer.start_span(
        name, context=_PROPAGATOR.extract({TRACEPARENT: parent}), attributes=attributes, start_time=start_ns
    )
    try:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(new))
        return carrier.get(TRACEPARENT)
    finally:
        new.end()

"""Stage timing and optional OpenTelemetry traces: one `stage(name)` both observes the
`gateway_stage_duration_seconds` histogram and, when `tracing.otlp_endpoint` is set, is one
span. With tracing off no SDK object exists and a stage costs two clock reads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import Histogram
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.config import TracingSettings
from gateway.metrics import Metrics

log = logging.getLogger(__name__)


#: (trace id, span id) the next span must take; set only while a stage opens its span.
_PRESET_IDS: ContextVar[tuple[int, int] | None] = ContextVar("gateway_preset_span_ids", default=None)


class _PresetIdGenerator(RandomIdGenerator):
    """Random ids, except for a span the pipeline already named in a traceparent it
    passes on (the trace id matters only when there is no parent to inherit it from)."""

    def generate_trace_id(self) -> int:
        preset = _PRESET_IDS.get()
        return preset[0] if preset else super().generate_trace_id()

    def generate_span_id(self) -> int:
        preset = _PRESET_IDS.get()
        return preset[1] if preset else super().generate_span_id()


def _ids(traceparent: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


class Stage:
    """One timed stage; a span too when tracing is on. `seconds` is set on exit."""

    __slots__ = ("_ids", "_name", "_span", "_started", "_telemetry", "seconds")

    def __init__(self, telemetry: Telemetry, name: str, ids: tuple[int, int] | None) -> None:
        self._telemetry = telemetry
        self._name = name
        self._ids = ids
        self._span: Any = None
        self._started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stage:
        tracer = self._telemetry.tracer
        if tracer is not None:
            self._span = tracer.start_as_current_span(self._name)
            preset = _PRESET_IDS.set(self._ids)
            try:
                self._span.__enter__()
            finally:
                _PRESET_IDS.reset(preset)
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.seconds = time.perf_counter() - self._started
        self._telemetry.stage_histogram(self._name).observe(self.seconds)
        if self._span is not None:
            self._span.__exit__(kind, exc, tb)


class Telemetry:
    """The gateway's stage timer and, when configured, its tracer provider."""

    def __init__(self, settings: TracingSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer | None = None
        #: Each stage's histogram child, looked up once (a `labels()` call takes a lock).
        self._histograms: dict[str, Histogram] = {}

    def stage_histogram(self, name: str) -> Histogram:
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = self._histograms[name] = self.metrics.stage_duration.labels(name)
        return histogram

    @property
    def enabled(self) -> bool:
        return self.settings.otlp_endpoint is not None

    def start(self) -> None:
        base = self.settings.otlp_endpoint
        if base is None or self.provider is not None:
            return
        endpoint = f"{base.rstrip('/')}/v1/traces"
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": self.settings.service_name, "service.version": __version__}),
            # The agent's sampling decision wins; the ratio applies to traces the gateway starts.
            sampler=ParentBased(TraceIdRatioBased(self.settings.sample_ratio)),
            id_generator=_PresetIdGenerator(),
        )
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer = self.provider.get_tracer("agent-gateway", __version__)
        _PROCESS.serve(self.provider)
        log.info("tracing: spans go to %s (sample ratio %g)", endpoint, self.settings.sample_ratio)

    async def stop(self) -> None:
        """Flush what is batched and stop exporting (the flush is blocking HTTP)."""
        provider, self.provider, self.tracer = self.provider, None, None
        if provider is not None:
            _PROCESS.release(provider)
            await asyncio.to_thread(provider.shutdown)

    def stage(self, name: str, traceparent: str | None = None) -> Stage:
        """A stage; given the traceparent the gateway hands on (the backend stage), its
        span takes that span id, so the backend's parent is an exported span."""
        return Stage(self, name, _ids(traceparent) if traceparent and self.tracer is not None else None)

    def observer(self, name: str) -> Callable[[float], None]:
        """For a stage timed outside the pipeline (identity, in the auth gate): told the
        duration afterwards, it records the histogram and a span ending now."""
        histogram = self.stage_histogram(name)

        def observe(seconds: float) -> None:
            histogram.observe(seconds)
            if self.tracer is not None:
                end = time.time_ns()
                self.tracer.start_span(name, start_time=end - int(seconds * 1e9)).end(end_time=end)

        return observe


class _ProcessTracing(trace.TracerProvider):
    """The process-wide provider, through which the MCP SDK emits its spans (its server
    span per message, the MCP connector's client spans): it forwards to the running
    gateway's provider. OpenTelemetry lets a process set its provider only once, while a
    process (the test suite) may start and stop many gateways."""

    def __init__(self) -> None:
        self.target: TracerProvider | None = None
        self._installed = False

    def serve(self, provider: TracerProvider) -> None:
        if not self._installed:
            self._installed = True
            if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
                log.warning("tracing: this process has its own tracer provider; the MCP SDK's spans go to it")
                return
            trace.set_tracer_provider(self)
        self.target = provider

    def release(self, provider: TracerProvider) -> None:
        if self.target is provider:
            self.target = None

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        scope = (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        return _ForwardingTracer(self, scope)


class _ForwardingTracer(trace.Tracer):
    def __init__(self, process: _ProcessTracing, scope: tuple[Any, ...]) -> None:
        self._process = process
        self._scope = scope
        self._cached: tuple[TracerProvider | None, trace.Tracer] = (None, trace.NoOpTracer())

    def _current(self) -> trace.Tracer:
        target = self._process.target
        if self._cached[0] is not target:
            self._cached = (target, target.get_tracer(*self._scope) if target else trace.NoOpTracer())
        return self._cached[1]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)


_PROCESS = _ProcessTracing()


class TraceRequests:
    """ASGI: one server span per HTTP request, child of the agent's `traceparent` header,
    so every span of the call (the MCP SDK's, the stages') carries the agent's trace id."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = self.telemetry.tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        name = f"{scope['method']} {scope['path']}"
        with tracer.start_as_current_span(name, context=extract(carrier), kind=trace.SpanKind.SERVER):
            await self.app(scope, receive, send)


def middleware(telemetry: Telemetry) -> list[Middleware]:
    """The request tracing middleware, or none at all when tracing is off."""
    return [Middleware(TraceRequests, telemetry=telemetry)] if telemetry.enabled else []

"""trace_id and span_id in every JSON log line written inside a span, as OpenTelemetry prints them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.trace import format_span_id, format_trace_id

from services.runtime.logging import configure_logging
from services.runtime.otel import hooks
from tests.support.otel import recording


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def logged(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "iotmon.test"]


def test_a_line_inside_a_span_carries_its_ids(lines: io.StringIO) -> None:
    log = logging.getLogger("iotmon.test")
    with recording(["device"]):
        assert hooks.tracing is not None
        log.info("before any span")
        with hooks.tracing.tracer().start_as_current_span("outer") as outer:
            log.info("in outer")
            with hooks.tracing.tracer().start_as_current_span("inner") as inner:
                log.info("in inner", extra={"deviceId": "dev-1"})
    before, in_outer, in_inner = logged(lines)
    assert "trace_id" not in before
    assert "span_id" not in before
    trace_id = format_trace_id(outer.get_span_context().trace_id)
    assert len(trace_id) == 32
    assert in_outer["trace_id"] == trace_id
    assert in_outer["span_id"] == format_span_id(outer.get_span_context().span_id)
    assert in_inner["trace_id"] == trace_id
    assert in_inner["span_id"] == format_span_id(inner.get_span_context().span_id)
    assert in_inner["span_id"] != in_outer["span_id"]
    assert in_inner["deviceId"] == "dev-1"


def test_with_tracing_off_lines_have_no_ids(lines: io.StringIO) -> None:
    assert hooks.tracing is None
    logging.getLogger("iotmon.test").info("no tracing")
    (line,) = logged(lines)
    assert line["msg"] == "no tracing"
    assert "trace_id" not in line

"""Export files, written as the rows stream (never the whole export in memory).

CSV: a header `timestamp,deviceId,metric,value`, then one row per datapoint. JSON: JSON Lines (one object per
line, `{"timestamp": …, "deviceId": …, "metric": …, "value": …}`, media type application/x-ndjson) rather
than one array, so that any line-oriented tool can stream it back. Timestamps are ISO 8601 UTC with
milliseconds; rows are ordered by time, device id and metric.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

CSV_HEADER = "timestamp,deviceId,metric,value\n"
EXTENSIONS = {"csv": "csv", "json": "jsonl"}
MEDIA_TYPES = {"csv": "text/csv", "json": "application/x-ndjson"}


def header(format: str) -> bytes:
    return CSV_HEADER.encode() if format == "csv" else b""


def encode_rows(
    format: str,
    timestamps_ms: Sequence[int],
    device_ids: Sequence[str],
    metrics: Sequence[str],
    values: Sequence[float],
) -> bytes:
    """One batch of datapoints as bytes of the file."""
    stamps = [_iso(ms) for ms in timestamps_ms]
    if format == "csv":
        lines = [
            f"{t},{_csv(d)},{_csv(m)},{v!r}\n" for t, d, m, v in zip(stamps, device_ids, metrics, values, strict=True)
        ]
    else:
        lines = [
            f'{{"timestamp":"{t}","deviceId":{json.dumps(d)},"metric":{json.dumps(m)},"value":{_json_number(v)}}}\n'
            for t, d, m, v in zip(stamps, device_ids, metrics, values, strict=True)
        ]
    return "".join(lines).encode()


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def _csv(text: str) -> str:
    """Quoted only when needed (RFC 4180): device ids and metric names rarely need it."""
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _json_number(value: float) -> str:
    return repr(value) if value == value and value not in (float("inf"), float("-inf")) else "null"

"""Archived days as Parquet (zstd), and the checks that a written file holds exactly what was meant."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from services.telemetry.adapters.archive_table import ARCHIVE_SCHEMA, sort_day, ts_millis

CONTENT_TYPE = "application/vnd.apache.parquet"
KEY_COLUMNS = ["device_id", "metric", "ts"]


def encode(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def decode(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data)).cast(ARCHIVE_SCHEMA)


def content_digest(table: pa.Table) -> str:
    """SHA-256 of the rows in archive order, independent of how Parquet laid them out."""
    ordered = sort_day(table)
    digest = hashlib.sha256()
    for column in ("device_id", "metric"):
        digest.update("\x00".join(ordered[column].to_pylist()).encode())
        digest.update(b"\x01")
    digest.update(ts_millis(ordered).tobytes())
    digest.update(np.asarray(ordered["value"].to_numpy(), dtype=np.float64).tobytes())
    digest.update(np.asarray(ordered["anomaly"].to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
    return digest.hexdigest()


def union(existing: pa.Table, fresh: pa.Table) -> pa.Table:
    """Both tables' rows, one per (device, metric, time); the existing file's value stays, as in the store."""
    if not fresh.num_rows:
        return existing
    both = pa.concat_tables([existing, fresh])
    # Single-threaded grouping keeps the input order, so "first" is the existing file's row.
    grouped = both.group_by(KEY_COLUMNS, use_threads=False).aggregate([("value", "first"), ("anomaly", "first")])
    merged = pa.table(
        {name: grouped[name] for name in KEY_COLUMNS}
        | {"value": grouped["value_first"], "anomaly": grouped["anomaly_first"]}
    )
    return sort_day(merged.cast(ARCHIVE_SCHEMA))


def holds_all(existing: pa.Table, fresh: pa.Table) -> bool:
    """Whether every (device, metric, time) of `fresh` is in `existing` already."""
    return bool(union(existing, fresh).num_rows == existing.num_rows)

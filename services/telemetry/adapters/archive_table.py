"""The Arrow shape of an archived day, shared by every TimeSeriesStore adapter and the Parquet writer:
device_id, metric, ts (UTC milliseconds), value, anomaly — ordered by device id, metric (byte order) and time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs

ARCHIVE_SCHEMA = pa.schema(
    [
        pa.field("device_id", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("anomaly", pa.bool_(), nullable=False),
    ]
)


def empty_day() -> pa.Table:
    return ARCHIVE_SCHEMA.empty_table()


def day_table(
    device_ids: Sequence[str] | pa.Array,
    metrics: Sequence[str] | pa.Array,
    ts_ms: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    anomalies: Sequence[bool] | np.ndarray,
) -> pa.Table:
    """The columns as an archive table, sorted the archive's way."""
    table = pa.table(
        {
            "device_id": pa.array(device_ids, pa.string()),
            "metric": pa.array(metrics, pa.string()),
            "ts": pa.array(np.asarray(ts_ms, dtype=np.int64), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "value": pa.array(values, pa.float64()),
            "anomaly": pa.array(anomalies, pa.bool_()),
        }
    ).cast(ARCHIVE_SCHEMA)
    return sort_day(table)


def sort_day(table: pa.Table) -> pa.Table:
    return table.sort_by([("device_id", "ascending"), ("metric", "ascending"), ("ts", "ascending")])


def ts_millis(table: pa.Table) -> np.ndarray:
    return np.asarray(table["ts"].cast(pa.int64()).to_numpy(), dtype=np.int64)


def names(keys: np.ndarray, lookup: dict[int, str]) -> pa.Array:
    """Names for integer keys through a dictionary array: one lookup per distinct key, not per row."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    dictionary = pa.array([lookup[int(k)] for k in distinct], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)), dictionary).cast(pa.string())

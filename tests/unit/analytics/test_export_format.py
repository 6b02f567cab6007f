"""Export files: the CSV header and rows, JSON Lines, quoting, timestamps and non-finite values."""

from __future__ import annotations

import csv
import io
import json

from services.analytics.domain.export_format import encode_rows, header

T = 1_735_689_600_123  # 2025-01-01T00:00:00.123Z


def test_csv_rows_read_back_with_the_csv_module() -> None:
    body = header("csv") + encode_rows("csv", [T, T + 1000], ["dev-1", 'odd,"id'], ["temperature", "rh"], [21.5, 0.1])
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows == [
        ["timestamp", "deviceId", "metric", "value"],
        ["2025-01-01T00:00:00.123Z", "dev-1", "temperature", "21.5"],
        ["2025-01-01T00:00:01.123Z", 'odd,"id', "rh", "0.1"],
    ]


def test_json_lines_parse_one_object_per_line() -> None:
    body = header("json") + encode_rows("json", [T], ['dev-"1'], ["co2"], [450.0])
    body += encode_rows("json", [T + 5], ["dev-2"], ["x"], [float("nan")])
    lines = body.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"timestamp": "2025-01-01T00:00:00.123Z", "deviceId": 'dev-"1', "metric": "co2", "value": 450.0},
        {"timestamp": "2025-01-01T00:00:00.128Z", "deviceId": "dev-2", "metric": "x", "value": None},
    ]


def test_values_keep_their_precision_and_an_empty_batch_is_empty() -> None:
    body = encode_rows("csv", [T], ["d"], ["m"], [0.1 + 0.2])
    assert float(body.decode().strip().split(",")[-1]) == 0.1 + 0.2
    assert encode_rows("csv", [], [], [], []) == b""

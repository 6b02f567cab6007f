"""Every reason a record is refused, each on its own, and what passes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from services.telemetry.domain.model import RejectReason, Source
from services.telemetry.domain.schemas import DeviceType, MetricKind, metric
from services.telemetry.domain.validation import Rejected, check_free_values, check_shape, check_values
from tests.unit.telemetry.fakes import NOW_MS
from tests.unit.telemetry.world import World, check, raw, record

MINUTE = 60_000


async def refusal_of(payload: object, **options: Any) -> tuple[RejectReason, str]:
    checked = await check(World(), [raw(payload, **options)])
    assert not checked.readings, "the record should have been refused"
    (refused,) = checked.refusals
    return refused.reason, refused.message


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        (b"{not json", RejectReason.MALFORMED_JSON, "not valid JSON"),
        (b"[1, 2]", RejectReason.MALFORMED_JSON, "JSON object, got array"),
        (b"\xff\xfe", RejectReason.MALFORMED_JSON, "not valid JSON"),
        ([1, 2], RejectReason.INVALID_RECORD, "must be a JSON object"),
        ({"timestamp": NOW_MS, "data": {"temperature": 1}}, RejectReason.INVALID_RECORD, "deviceId"),
        ({"deviceId": "dev-1", "data": {"temperature": 1}}, RejectReason.INVALID_RECORD, "timestamp"),
        (
            {"deviceId": "dev-1", "timestamp": "yesterday", "data": {"temperature": 1}},
            RejectReason.INVALID_RECORD,
            "timestamp",
        ),
        (
            {"deviceId": "dev-1", "timestamp": True, "data": {"temperature": 1}},
            RejectReason.INVALID_RECORD,
            "timestamp",
        ),
        ({"deviceId": "dev-1", "timestamp": NOW_MS, "data": {}}, RejectReason.INVALID_RECORD, "data"),
        ({"deviceId": "dev-1", "timestamp": NOW_MS, "data": [1]}, RejectReason.INVALID_RECORD, "data"),
        (record("dev-nobody"), RejectReason.UNKNOWN_DEVICE, "dev-nobody"),
        (record("dev-gone"), RejectReason.DEVICE_DELETED, "deleted"),
        (record(timestamp=NOW_MS + 6 * MINUTE), RejectReason.TIMESTAMP_IN_FUTURE, "360 s ahead"),
        (record(timestamp=NOW_MS - 91 * 1440 * MINUTE), RejectReason.TIMESTAMP_TOO_OLD, "90 days"),
        (record(pressure=1013), RejectReason.UNKNOWN_METRIC, "no metric 'pressure'"),
        (record(temperature="hot"), RejectReason.INVALID_TYPE, "got string"),
        (record(temperature=None), RejectReason.INVALID_TYPE, "got null"),
        (record(temperature=True), RejectReason.INVALID_TYPE, "got boolean"),
        (record(humidity=150), RejectReason.OUT_OF_RANGE, "humidity: 150 % is outside the valid range 0..100 %"),
        (record(temperature=-40.5), RejectReason.OUT_OF_RANGE, "-40.5"),
        (record(co2=-5), RejectReason.OUT_OF_RANGE, "co2"),
    ],
)
async def test_each_refusal_has_its_reason_and_a_message_that_says_what(
    payload: object, reason: RejectReason, words: str
) -> None:
    found, message = await refusal_of(payload)
    assert found is reason
    assert words in message


async def test_another_organizations_device_is_unknown_not_forbidden() -> None:
    reason, message = await refusal_of(record("dev-other"))
    assert reason is RejectReason.UNKNOWN_DEVICE
    assert "org-2" not in message


async def test_device_channels_need_no_organization_but_the_topic_must_name_the_device() -> None:
    mqtt = {"source": Source.MQTT, "organization": None}
    checked = await check(
        World(),
        [raw(b'{"deviceId": "dev-other", "timestamp": %d, "data": {"co2": 5}}' % NOW_MS, topic="dev-other", **mqtt)],
    )
    assert [r.organization_id for r in checked.readings] == ["org-2"]
    reason, message = await refusal_of(record("dev-1"), topic="dev-2", **mqtt)
    assert reason is RejectReason.TOPIC_MISMATCH
    assert "dev-2" in message


async def test_a_timestamp_within_the_allowed_skew_and_a_fractional_one_pass() -> None:
    checked = await check(World(), [raw(record(timestamp=NOW_MS + 4 * MINUTE)), raw(record(timestamp=NOW_MS - 0.5))])
    assert [r.timestamp_ms for r in checked.readings] == [NOW_MS + 4 * MINUTE, NOW_MS - 1]


def test_shape_keeps_the_whole_record_for_its_dead_letter() -> None:
    payload = record()
    assert check_shape(payload)[4] is payload
    with pytest.raises(Rejected) as refused:
        check_shape({**payload, "units": {"temperature": 5}})
    assert refused.value.reason is RejectReason.INVALID_RECORD


KINDS = DeviceType(
    "kinds",
    {
        "count": metric("count", kind=MetricKind.INTEGER, minimum=0),
        "door": metric("door", kind=MetricKind.BOOLEAN, minimum=0, maximum=1),
        "level": metric("level"),
    },
)


def test_integer_and_boolean_metrics() -> None:
    assert check_values({"count": 3, "door": True, "level": 1e-3}, None, KINDS) == {
        "count": 3.0,
        "door": 1.0,
        "level": 1e-3,
    }
    assert check_values({"count": 4.0, "door": 0}, None, KINDS) == {"count": 4.0, "door": 0.0}
    for bad in ({"count": 2.5}, {"door": 2}, {"door": "open"}, {"level": math.inf}, {"level": math.nan}):
        with pytest.raises(Rejected) as refused:
            check_values(bad, None, KINDS)
        assert refused.value.reason is RejectReason.INVALID_TYPE, bad


def test_a_type_without_schema_takes_any_finite_number_as_sent() -> None:
    assert check_free_values({"anything": 1, "else": -2.5e9}) == {"anything": 1.0, "else": -2.5e9}
    for bad in ({"x": "1"}, {"x": True}, {"x": math.nan}, {"x": [1]}):
        with pytest.raises(Rejected) as refused:
            check_free_values(bad)
        assert refused.value.reason is RejectReason.INVALID_TYPE


async def test_a_device_of_a_type_without_schema_stores_what_it_sends() -> None:
    checked = await check(World(), [raw(record("dev-free", pressure=1013.2, temperature=200))])
    assert checked.readings[0].values == {"pressure": 1013.2, "temperature": 200.0}

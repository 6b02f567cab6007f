"""The pipeline with fakes: records succeed or fail one by one, persistence is all or nothing, replays."""

from __future__ import annotations

import json

import pytest

from services.kernel.pagination import PageRequest
from services.telemetry.domain.model import RejectReason, Source
from tests.unit.telemetry.fakes import NOW_MS, BrokenStore
from tests.unit.telemetry.world import World, raw, record


async def test_one_bad_record_does_not_stop_the_batch_and_lands_in_dead_letters() -> None:
    world = World()
    batch = [raw(record(timestamp=NOW_MS - 3000)), raw(record(humidity=150)), raw(record(timestamp=NOW_MS - 1000))]
    result = await world.pipeline.ingest(batch)
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejections] == [(1, RejectReason.OUT_OF_RANGE)]
    assert result.stored_datapoints == 2 * 5  # four metrics and the dew point
    (letter,) = (await world.dead_letters.page("org-1", PageRequest())).items
    assert letter.record == record(humidity=150)
    assert (letter.reason, letter.source, letter.received_at_ms) == (RejectReason.OUT_OF_RANGE, Source.HTTP, NOW_MS)
    assert (letter.organization_id, letter.device_id) == ("org-1", "dev-1")
    assert "humidity" in letter.message


async def test_rejections_are_reported_in_record_order() -> None:
    batch = [raw(record("dev-nobody")), raw(b"oops"), raw(record(co2="x")), raw(record())]
    result = await World().pipeline.ingest(batch)
    assert [r.index for r in result.rejections] == [0, 1, 2]


async def test_unparseable_bytes_are_kept_as_text() -> None:
    world = World()
    await world.pipeline.ingest([raw(b"\xffnot json", source=Source.MQTT, organization=None)])
    (letter,) = await world.dead_letters.oldest(None, 10)
    assert letter.record == "\ufffdnot json"
    assert (letter.reason, letter.organization_id, letter.device_id) == (RejectReason.MALFORMED_JSON, None, None)


async def test_a_store_failure_raises_and_nothing_is_announced() -> None:
    world = World(store=BrokenStore())
    with pytest.raises(OSError, match="disk full"):
        await world.pipeline.ingest([raw(record()), raw(record(co2=-1))])
    assert world.sink.calls == []
    assert world.events.stored == []


async def test_the_same_batch_twice_is_accepted_twice_and_stored_once() -> None:
    world = World()
    batch = [raw(record(timestamp=NOW_MS - i * 1000)) for i in range(5)] + [raw(record(co2=-1))]
    first = await world.pipeline.ingest(batch)
    second = await world.pipeline.ingest(batch)
    assert (first.accepted, second.accepted) == (5, 5)
    assert (first.stored_datapoints, second.stored_datapoints) == (25, 0)
    assert await world.store.count("org-1", "dev-1") == 25
    assert len(await world.dead_letters.oldest(None, 10)) == 1, "the same refused record keeps one dead letter"


async def test_duplicates_inside_one_batch_are_stored_once() -> None:
    world = World()
    result = await world.pipeline.ingest([raw(record()), raw(record())])
    assert (result.accepted, result.stored_datapoints) == (2, 5)


async def test_one_device_lookup_and_one_activity_call_per_batch() -> None:
    world = World()
    batch = [
        raw(record("dev-1", NOW_MS - 5000, temperature=20)),
        raw(record("dev-1", NOW_MS - 1000, temperature=21)),
        raw(record("dev-1", NOW_MS - 3000, temperature=22)),
        raw(record("dev-2", NOW_MS - 2000, humidity=500)),
        raw(record("dev-1", NOW_MS - 4000, humidity=-1)),
        raw(record("dev-other")),
        raw(record("dev-nobody")),
    ]
    await world.pipeline.ingest(batch)
    assert world.directory.lookups == [{"dev-1", "dev-2", "dev-other", "dev-nobody"}]
    (activities,) = world.sink.calls
    by_device = {a.device_id: a for a in activities}
    assert set(by_device) == {"dev-1", "dev-2"}, "refusals of unknown or foreign devices count for nobody"
    newest = by_device["dev-1"]
    assert (newest.last_seen_ms, newest.last_values, newest.accepted, newest.rejected) == (
        NOW_MS - 1000,
        {"temperature": 21.0},
        3,
        1,
    )
    refused_only = by_device["dev-2"]
    assert (refused_only.last_seen_ms, refused_only.last_values, refused_only.accepted, refused_only.rejected) == (
        None,
        {},
        0,
        1,
    )


async def test_stored_readings_and_anomalies_are_announced() -> None:
    world = World()
    steady = [raw(record(timestamp=NOW_MS - (100 - i) * 1000, temperature=20 + i % 2 * 0.2)) for i in range(10)]
    await world.pipeline.ingest(steady)
    result = await world.pipeline.ingest([raw(record(timestamp=NOW_MS, temperature=60))])
    assert result.accepted == 1
    assert [len(batch) for batch in world.events.stored] == [10, 1]
    assert world.events.stored[1][0].anomalies == frozenset({"temperature"})
    assert [(device, metric) for device, metric, _ in world.events.anomalies] == [("dev-1", "temperature")]
    assert world.pipeline.stats.anomalies == 0, "each pipeline counts its own batches"


async def test_the_stats_count_what_happened() -> None:
    world = World()
    pipeline = world.pipeline
    await pipeline.ingest([raw(record()), raw(record(co2=-1)), raw(b"x")])
    assert pipeline.stats.snapshot() == {
        "batches": 1,
        "records": {"http": 3},
        "accepted": 1,
        "storedDatapoints": 5,
        "rejected": {"OUT_OF_RANGE": 1, "MALFORMED_JSON": 1},
        "anomalies": 0,
    }


async def test_replay_stores_what_now_passes_and_keeps_the_rest_with_their_new_reason() -> None:
    world = World()
    late_device = json.dumps(record("dev-late")).encode()
    mismatch = json.dumps(record("dev-2")).encode()
    await world.pipeline.ingest([raw(late_device, Source.MQTT, None), raw(mismatch, Source.MQTT, None, topic="dev-1")])
    await world.pipeline.ingest([raw(record("dev-3")), raw(record(co2=-1))])
    world.directory.add("dev-late", organization_id="org-9")
    world.directory.add("dev-3", deleted=True)
    outcome = await world.pipeline.replay(await world.dead_letters.oldest(None, 10))
    assert (outcome.replayed, outcome.accepted, outcome.still_failing) == (4, 1, 3)
    assert await world.store.count("org-9", "dev-late") == 5
    left = {x.device_id: x for x in await world.dead_letters.oldest(None, 10)}
    assert {d: x.reason for d, x in left.items()} == {
        "dev-2": RejectReason.TOPIC_MISMATCH,
        "dev-3": RejectReason.DEVICE_DELETED,
        "dev-1": RejectReason.OUT_OF_RANGE,
    }
    assert left["dev-3"].source is Source.HTTP, "a letter keeps its source and time across replays"


async def test_a_device_channels_letter_belongs_to_the_devices_organization_when_known() -> None:
    world = World()
    mqtt = [
        raw(json.dumps(record("dev-gone")).encode(), Source.MQTT, None, topic="dev-gone"),
        raw(json.dumps(record("dev-other", co2=-1)).encode(), Source.MQTT, None, topic="dev-other"),
        raw(json.dumps(record("dev-nobody")).encode(), Source.MQTT, None, topic="dev-nobody"),
    ]
    await world.pipeline.ingest(mqtt)
    owners = {x.device_id: x.organization_id for x in await world.dead_letters.oldest(None, 10)}
    assert owners == {"dev-gone": "org-1", "dev-other": "org-2", "dev-nobody": None}
    (activities,) = world.sink.calls
    assert [(a.device_id, a.rejected) for a in activities] == [("dev-other", 1)], "a deleted device counts nothing"

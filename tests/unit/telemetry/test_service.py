"""Who may do what, and the API's whole-request errors."""

from __future__ import annotations

import json

import pytest

from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from services.telemetry.domain.model import RejectReason, Source
from tests.unit.telemetry.world import World, raw, record

ADMIN = Caller("user-a", "org-1", Role.ADMIN)
OPERATOR = Caller("user-o", "org-1", Role.OPERATOR)
VIEWER = Caller("user-v", "org-1", Role.VIEWER)
OTHER_ADMIN = Caller("user-x", "org-2", Role.ADMIN)
SERVICE = Caller.service("simulator")


def body(*records: object) -> bytes:
    return json.dumps({"records": list(records)}).encode()


async def test_operators_and_admins_send_telemetry_viewers_do_not() -> None:
    service = World().service
    assert (await service.ingest_document(OPERATOR, body(record()))).accepted == 1
    with pytest.raises(PermissionDenied):
        await service.ingest_document(VIEWER, body(record()))


async def test_a_user_sends_only_for_their_organizations_devices_a_service_for_any() -> None:
    service = World().service
    refused = await service.ingest(ADMIN, [record("dev-other")], Source.GRPC)
    assert [r.reason for r in refused.rejections] == [RejectReason.UNKNOWN_DEVICE]
    assert (await service.ingest(SERVICE, [record("dev-other")], Source.GRPC)).accepted == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "INVALID_JSON"),
        (b"{oops", "INVALID_JSON"),
        (b'{"items": []}', "VALIDATION_ERROR"),
        (b"[]", "VALIDATION_ERROR"),
    ],
)
async def test_a_body_that_is_not_a_batch_is_a_400(payload: bytes, reason: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await World().service.ingest_document(ADMIN, payload)
    assert refused.value.reason == reason


async def test_too_many_records_in_one_call_is_a_400() -> None:
    with pytest.raises(ValidationFailed) as refused:
        await World().service.ingest(ADMIN, [record()] * 10_001, Source.GRPC)
    assert refused.value.violations[0].field == "records"


async def test_a_stream_is_ingested_in_batches_and_indexed_from_its_start() -> None:
    async def batches():  # type: ignore[no-untyped-def]
        yield [record(), record(co2=-1)]
        yield [record("dev-nobody"), record("dev-2")]

    result = await World().service.ingest_stream(OPERATOR, batches())
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejections] == [
        (1, RejectReason.OUT_OF_RANGE),
        (2, RejectReason.UNKNOWN_DEVICE),
    ]


async def filled_dead_letters() -> World:
    world = World()
    await world.pipeline.ingest([raw(record(co2=-1)), raw(record("dev-2", humidity=500)), raw(b"?", organization=None)])
    await world.pipeline.ingest([raw(record(co2=-2), organization="org-2")])
    return world


async def test_admins_list_their_organizations_dead_letters_newest_first() -> None:
    service = (await filled_dead_letters()).service
    page = await service.dead_letters(ADMIN, page=1, page_size=10)
    assert {x.device_id for x in page.items} == {"dev-1", "dev-2"}
    assert page.total_items == 2
    filtered = await service.dead_letters(ADMIN, page=None, page_size=None, device_id="dev-2", reason="out_of_range")
    assert [x.device_id for x in filtered.items] == ["dev-2"]
    assert (await service.dead_letters(SERVICE, page=None, page_size=None)).total_items == 4
    with pytest.raises(PermissionDenied):
        await service.dead_letters(OPERATOR, page=None, page_size=None)
    with pytest.raises(ValidationFailed):
        await service.dead_letters(ADMIN, page=None, page_size=None, reason="BAD_LUCK")


async def test_replay_is_for_admins_and_stays_in_their_organization() -> None:
    world = await filled_dead_letters()
    with pytest.raises(PermissionDenied):
        await world.service.replay(OPERATOR)
    outcome = await world.service.replay(OTHER_ADMIN)
    assert (outcome.replayed, outcome.accepted, outcome.still_failing) == (1, 0, 1)
    with pytest.raises(ValidationFailed):
        await world.service.replay(ADMIN, limit=0)
    assert (await world.service.replay(SERVICE, limit=2)).replayed == 2

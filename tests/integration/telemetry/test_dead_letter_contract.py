"""One contract for every DeadLetterStore: memory, SQLite (embedded), PostgreSQL (the local server) and
DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.kernel.pagination import PageRequest
from services.telemetry.adapters.dead_letters_memory import InMemoryDeadLetterStore
from services.telemetry.adapters.dead_letters_postgres import PostgresDeadLetterStore
from services.telemetry.adapters.dead_letters_sqlite import SqliteDeadLetterStore
from services.telemetry.domain.model import DeadLetter, RejectReason, Source
from services.telemetry.ports import DeadLetterStore
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


async def _dynamodb(client: DynamoDBClient, table: str) -> DeadLetterStore:
    from services.telemetry.adapters.dead_letters_dynamodb import DynamoDbDeadLetterStore

    dynamodb = DynamoDbDeadLetterStore(client, table)
    await dynamodb.ensure_table()
    return dynamodb


ADAPTERS = StoreAdapters[DeadLetterStore](
    "dead-letters",
    memory=InMemoryDeadLetterStore,
    sqlite=SqliteDeadLetterStore,
    postgres=lambda dsn, schema: PostgresDeadLetterStore.open(dsn, schema=schema),
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeadLetterStore]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened


def letter(
    number: int,
    organization: str | None = "org-1",
    device: str | None = "dev-1",
    reason: RejectReason = RejectReason.OUT_OF_RANGE,
    record: object = None,
) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=f"dlq-{number:03d}",
        record={"deviceId": device, "timestamp": number, "data": {"co2": -number}} if record is None else record,
        reason=reason,
        message=f"letter {number}",
        source=Source.MQTT if number % 2 else Source.HTTP,
        received_at_ms=1_700_000_000_000 + number * 1000,
        organization_id=organization,
        device_id=device,
    )


async def test_letters_come_back_as_they_went_in(store: DeadLetterStore) -> None:
    odd = [letter(1), letter(2, organization=None, device=None, reason=RejectReason.MALFORMED_JSON, record="{oops")]
    odd.append(letter(3, record=[1, "two", {"three": 3.5, "nested": None}]))
    await store.add(odd)
    assert await store.oldest(None, 10) == odd


async def test_pages_are_newest_first_and_scoped_to_the_organization(store: DeadLetterStore) -> None:
    await store.add([letter(n) for n in range(1, 8)] + [letter(50, organization="org-2")])
    first = await store.page("org-1", PageRequest(1, 3))
    assert [x.dead_letter_id for x in first.items] == ["dlq-007", "dlq-006", "dlq-005"]
    assert (first.total_items, first.total_pages, first.has_next) == (7, 3, True)
    last = await store.page("org-1", PageRequest(3, 3))
    assert [x.dead_letter_id for x in last.items] == ["dlq-001"]
    everyone = await store.page(None, PageRequest(1, 2))
    assert [x.dead_letter_id for x in everyone.items] == ["dlq-050", "dlq-007"]
    assert everyone.total_items == 8


async def test_filters_by_device_and_reason(store: DeadLetterStore) -> None:
    await store.add(
        [letter(1), letter(2, device="dev-2"), letter(3, reason=RejectReason.UNKNOWN_DEVICE), letter(4, device="dev-2")]
    )
    by_device = await store.page("org-1", PageRequest(), device_id="dev-2")
    assert [x.dead_letter_id for x in by_device.items] == ["dlq-004", "dlq-002"]
    by_reason = await store.oldest("org-1", 10, reason=RejectReason.UNKNOWN_DEVICE)
    assert [x.dead_letter_id for x in by_reason] == ["dlq-003"]
    both = await store.oldest("org-1", 10, device_id="dev-2", reason=RejectReason.UNKNOWN_DEVICE)
    assert both == []


async def test_oldest_first_within_the_limit(store: DeadLetterStore) -> None:
    await store.add([letter(n) for n in (5, 3, 9, 1)])
    assert [x.dead_letter_id for x in await store.oldest("org-1", 3)] == ["dlq-001", "dlq-003", "dlq-005"]


async def test_adding_a_letter_again_replaces_it(store: DeadLetterStore) -> None:
    await store.add([letter(1), letter(2)])
    changed = replace(letter(1), reason=RejectReason.DEVICE_DELETED, message="now deleted")
    await store.add([changed])
    stored = await store.oldest("org-1", 10)
    assert stored == [changed, letter(2)]


async def test_removed_letters_are_gone_and_unknown_ids_are_ignored(store: DeadLetterStore) -> None:
    await store.add([letter(n) for n in range(1, 5)])
    await store.remove(["dlq-002", "dlq-004", "dlq-999"])
    assert [x.dead_letter_id for x in await store.oldest(None, 10)] == ["dlq-001", "dlq-003"]
    await store.remove([])
    assert (await store.page(None, PageRequest())).total_items == 2

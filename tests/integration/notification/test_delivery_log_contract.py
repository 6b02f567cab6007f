"""One contract for every DeliveryLog: memory, SQLite (embedded), PostgreSQL (the local server) and DynamoDB
(moto)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.kernel.pagination import PageRequest
from services.notification.adapters.delivery_log_memory import InMemoryDeliveryLog
from services.notification.adapters.delivery_log_postgres import PostgresDeliveryLog
from services.notification.adapters.delivery_log_sqlite import SqliteDeliveryLog
from services.notification.domain.model import Channel, Delivery, DeliveryFilter, DeliveryOutcome, DeliveryStatus
from services.notification.ports import DeliveryLog
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

T0 = datetime(2025, 11, 15, 10, 0, tzinfo=UTC)
LEASE = T0 + timedelta(seconds=60)


async def _dynamodb(client: DynamoDBClient, table: str) -> DeliveryLog:
    from services.notification.adapters.delivery_log_dynamodb import DynamoDbDeliveryLog

    dynamodb = DynamoDbDeliveryLog(client, table)
    await dynamodb.ensure_table()
    return dynamodb


ADAPTERS = StoreAdapters[DeliveryLog](
    "deliveries",
    memory=InMemoryDeliveryLog,
    sqlite=SqliteDeliveryLog,
    postgres=lambda dsn, schema: PostgresDeliveryLog.open(dsn, schema=schema),
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeliveryLog]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened


def delivery(
    number: int = 1,
    *,
    alert: str = "alert-1",
    channel: Channel = Channel.EMAIL,
    status: DeliveryStatus = DeliveryStatus.PENDING,
    organization: str = "org-1",
) -> Delivery:
    return Delivery(
        delivery_id=f"dlv-{number:03d}",
        alert_id=alert,
        organization_id=organization,
        user_id=f"user-{number}",
        channel=channel,
        target="",
        status=status,
        created_at=T0 + timedelta(seconds=number),
        error="quiet hours" if status is DeliveryStatus.SUPPRESSED else None,
    )


async def test_a_row_is_inserted_once_and_the_first_one_wins(log: DeliveryLog) -> None:
    first, created = await log.insert_if_absent(delivery(1))
    assert created
    assert first == delivery(1)
    again, created_again = await log.insert_if_absent(delivery(1, status=DeliveryStatus.SUPPRESSED))
    assert not created_again
    assert again.status is DeliveryStatus.PENDING
    assert await log.get("dlv-001") == first
    assert await log.get("dlv-999") is None


async def test_the_key_alert_user_channel_target_is_unique_whatever_the_id(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1))
    stored, created = await log.insert_if_absent(replace(delivery(1), delivery_id="dlv-other"))
    assert not created
    assert stored.delivery_id == "dlv-001"
    assert await log.get("dlv-other") is None


async def test_a_claim_is_a_compare_and_set_on_the_token(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1))
    taken = await log.take("dlv-001", expected_token="", token="t1", owner="worker-a", lease_until=LEASE)
    assert taken is not None
    assert (taken.owner, taken.claim_token, taken.attempts, taken.lease_until) == ("worker-a", "t1", 1, LEASE)
    # A second worker that read the row before the claim loses.
    assert await log.take("dlv-001", expected_token="", token="t2", owner="worker-b", lease_until=LEASE) is None
    stolen = await log.take("dlv-001", expected_token="t1", token="t3", owner="worker-b", lease_until=LEASE)
    assert stolen is not None
    assert stolen.attempts == 2


async def test_only_the_current_claim_can_record_the_outcome(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1))
    await log.take("dlv-001", expected_token="", token="t1", owner="a", lease_until=LEASE)
    await log.take("dlv-001", expected_token="t1", token="t2", owner="b", lease_until=LEASE)
    outcome = DeliveryOutcome(DeliveryStatus.SENT, sent_at=T0, content="{}")
    assert await log.finish("dlv-001", token="t1", outcome=outcome) is None
    sent = await log.finish("dlv-001", token="t2", outcome=outcome)
    assert sent is not None
    assert (sent.status, sent.sent_at, sent.content, sent.lease_until) == (DeliveryStatus.SENT, T0, "{}", None)
    # Once final, nobody can claim or finish it again.
    assert await log.take("dlv-001", expected_token="t2", token="t3", owner="a", lease_until=LEASE) is None
    assert await log.finish("dlv-001", token="t2", outcome=replace(outcome, status=DeliveryStatus.FAILED)) is None


async def test_a_failure_keeps_its_reason_and_counts_every_try(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1, channel=Channel.WEBHOOK))
    await log.take("dlv-001", expected_token="", token="t1", owner="a", lease_until=LEASE)
    failed = await log.finish(
        "dlv-001",
        token="t1",
        outcome=DeliveryOutcome(
            DeliveryStatus.FAILED,
            error="HTTP 503 after 4 tries",
            retryable=True,
            extra_attempts=3,
            content='{"to":"https://h"}',
        ),
    )
    assert failed is not None
    assert (failed.status, failed.error, failed.retryable, failed.attempts) == (
        DeliveryStatus.FAILED,
        "HTTP 503 after 4 tries",
        True,
        4,
    )
    retried = await log.take("dlv-001", expected_token="t1", token="t2", owner="a", lease_until=LEASE)
    assert retried is not None
    assert (retried.status, retried.attempts) == (DeliveryStatus.PENDING, 5)


async def test_suppressed_rows_cannot_be_claimed(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1, status=DeliveryStatus.SUPPRESSED))
    assert await log.take("dlv-001", expected_token="", token="t1", owner="a", lease_until=LEASE) is None
    stored = await log.get("dlv-001")
    assert stored is not None
    assert (stored.status, stored.error) == (DeliveryStatus.SUPPRESSED, "quiet hours")


async def test_concurrent_claims_of_one_row_have_one_winner(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1))
    results = await asyncio.gather(
        *(log.take("dlv-001", expected_token="", token=f"t{n}", owner=f"w{n}", lease_until=LEASE) for n in range(8))
    )
    assert sum(r is not None for r in results) == 1


async def test_pages_are_newest_first_filtered_and_scoped_to_the_organization(log: DeliveryLog) -> None:
    for n in range(1, 8):
        await log.insert_if_absent(delivery(n, channel=Channel.PUSH if n % 2 else Channel.EMAIL))
    await log.insert_if_absent(delivery(8, alert="alert-2", status=DeliveryStatus.SUPPRESSED))
    await log.insert_if_absent(delivery(9, organization="org-2"))
    first = await log.page(DeliveryFilter("org-1"), PageRequest(1, 3))
    assert [d.delivery_id for d in first.items] == ["dlv-008", "dlv-007", "dlv-006"]
    assert (first.total_items, first.total_pages, first.has_next) == (8, 3, True)
    push = await log.page(DeliveryFilter("org-1", channel=Channel.PUSH), PageRequest(1, 10))
    assert [d.delivery_id for d in push.items] == ["dlv-007", "dlv-005", "dlv-003", "dlv-001"]
    of_alert = await log.page(
        DeliveryFilter("org-1", alert_id="alert-2", status=DeliveryStatus.SUPPRESSED), PageRequest(1, 10)
    )
    assert [d.delivery_id for d in of_alert.items] == ["dlv-008"]
    other = await log.page(DeliveryFilter("org-2"), PageRequest(1, 10))
    assert [d.organization_id for d in other.items] == ["org-2"]


async def test_a_hand_over_is_recorded_under_the_current_claim_and_cleared_by_the_next(log: DeliveryLog) -> None:
    await log.insert_if_absent(delivery(1))
    await log.take("dlv-001", expected_token="", token="t1", owner="a", lease_until=LEASE)
    assert not await log.hand_over("dlv-001", token="t0", at=T0, content="{}")
    assert await log.hand_over("dlv-001", token="t1", at=T0, content='{"subject":"s"}')
    handed = await log.get("dlv-001")
    assert handed is not None
    assert (handed.handed_over_at, handed.content, handed.status) == (T0, '{"subject":"s"}', DeliveryStatus.PENDING)
    retaken = await log.take("dlv-001", expected_token="t1", token="t2", owner="b", lease_until=LEASE)
    assert retaken is not None
    assert retaken.handed_over_at is None

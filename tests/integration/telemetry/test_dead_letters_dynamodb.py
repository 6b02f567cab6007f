"""DynamoDB dead letters beyond the contract: the all-organizations view merges the index shards in exactly
the order of the reference store, and IOTMON_TELEMETRY_DLQ=dynamodb keeps a refused reading in the table."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from iot.telemetry.v1 import telemetry_pb2

from services.kernel.pagination import PageRequest
from services.telemetry.adapters.dead_letters_memory import InMemoryDeadLetterStore
from services.telemetry.bootstrap import DLQ_FILE, TelemetrySettings
from services.telemetry.domain.model import DeadLetter, RejectReason, Source
from tests.integration.telemetry.support import as_user, register, telemetry_stack
from tests.integration.telemetry.test_servicer import http_batch, reading
from tests.support.dynamodb import moto_dynamodb, require_moto, unique_name
from tests.support.moto import REGION
from tests.support.tokens import TokenMinter

pytestmark = pytest.mark.needs_server

# Letters enough for several per index shard (dead_letters_dynamodb.SHARDS is 8).
COUNT = 48


def letters(count: int) -> list[DeadLetter]:
    """Ids of several lengths (one the prefix of another) and shared timestamps: the order's tie-breaks."""
    rng = random.Random(7)
    return [
        DeadLetter(
            dead_letter_id=f"dlq-{n}" + "x" * (n % 3),
            record={"n": n},
            reason=rng.choice([RejectReason.OUT_OF_RANGE, RejectReason.MALFORMED_JSON]),
            message=f"letter {n}",
            source=Source.HTTP,
            received_at_ms=1_700_000_000_000 + rng.randrange(5) * 1000,
            organization_id=rng.choice(["org-1", "org-2", None]),
            device_id=rng.choice(["dev-1", "dev-2", None]),
        )
        for n in range(COUNT)
    ]


async def test_every_organization_reads_in_the_reference_order(request: pytest.FixtureRequest) -> None:
    reference = InMemoryDeadLetterStore()
    await reference.add(letters(COUNT))
    async with moto_dynamodb(request) as client:
        from services.telemetry.adapters.dead_letters_dynamodb import SHARDS, DynamoDbDeadLetterStore

        assert COUNT >= 4 * SHARDS
        store = DynamoDbDeadLetterStore(client, unique_name("dead-letters"))
        await store.ensure_table()
        await store.add(letters(COUNT))
        for reason in (None, RejectReason.OUT_OF_RANGE):
            everyone = await store.page(None, PageRequest(1, 100), reason=reason)
            expected = await reference.page(None, PageRequest(1, 100), reason=reason)
            assert everyone.items == expected.items
            assert everyone.total_items == expected.total_items > SHARDS
            assert await store.oldest(None, 7, reason=reason) == await reference.oldest(None, 7, reason=reason)
        org = await store.page("org-1", PageRequest(2, 5), device_id="dev-1")
        assert org == await reference.page("org-1", PageRequest(2, 5), device_id="dev-1")


async def test_the_bootstrap_keeps_dead_letters_in_dynamodb(
    request: pytest.FixtureRequest, tmp_path: Path, token_minter: TokenMinter
) -> None:
    require_moto()
    table = unique_name("dead-letters")
    endpoint = request.getfixturevalue("moto_endpoint")
    settings = TelemetrySettings(
        store="memory", dlq="dynamodb", dlq_dynamodb_table=table, aws_endpoint_url=endpoint, aws_region=REGION
    )
    async with telemetry_stack(token_minter, tmp_path, settings) as stack:
        sensor = await register(stack, token_minter)
        at = int(time.time() * 1000) - 60_000
        reply = await stack.telemetry().IngestTelemetry(
            http_batch(reading(sensor, at), reading(sensor, at, co2=-1)), metadata=as_user(token_minter)
        )
        assert (reply.accepted, len(reply.failed)) == (1, 1)
        listed = await stack.telemetry().ListDeadLetters(
            telemetry_pb2.ListDeadLettersRequest(), metadata=as_user(token_minter, role="admin")
        )
    assert [letter.device_id for letter in listed.items] == [sensor]
    async with moto_dynamodb(request) as client:
        from services.telemetry.adapters.dead_letters_dynamodb import DynamoDbDeadLetterStore

        stored = await DynamoDbDeadLetterStore(client, table).page("org-1", PageRequest())
    assert [(letter.device_id, letter.record["data"]["co2"]) for letter in stored.items] == [(sensor, -1)]
    assert not (tmp_path / DLQ_FILE).exists()

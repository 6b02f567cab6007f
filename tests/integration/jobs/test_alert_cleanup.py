"""The archiving cleanup (§6.2) on every alerting store (memory, SQLite, PostgreSQL) and both object stores
(filesystem, S3 on moto): resolved alerts older than the age become JSON Lines per organization and day of
resolution and leave the store; recent and open ones stay; a run killed after a file write deletes nothing and
its rerun completes without duplicates; a file that does not verify deletes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.adapters.postgres import PostgresAlertingStore
from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.cleanup import ArchiveNotVerified, ResolvedAlertsArchive
from services.alerting.domain.alerts import AlertStatus
from services.alerting.domain.archive import DAY_MS, archive_key, day_text
from services.alerting.domain.listing import AlertFilter
from services.alerting.ports import AlertingStore
from services.kernel.pagination import PageRequest
from services.runtime.objects import ObjectStore
from tests.support.objects import OBJECT_STORE_KINDS, open_test_objects
from tests.support.postgres import POSTGRES_DSN, scratch_schema
from tests.unit.alerting.builders import an_alert

NOW = 1_760_000_000_000
OLD = NOW - 120 * DAY_MS  # 120 days ago: due
RECENT = NOW - 10 * DAY_MS


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AlertingStore]:
    if request.param == "memory":
        yield InMemoryAlertingStore()
    elif request.param == "sqlite":
        sqlite = SqliteAlertingStore(tmp_path / "alerting.db")
        yield sqlite
        await sqlite.close()
    else:
        async with scratch_schema("cleanup") as schema:
            postgres = await PostgresAlertingStore.open(POSTGRES_DSN, schema=schema)
            try:
                yield postgres
            finally:
                await postgres.close()


@pytest.fixture(params=OBJECT_STORE_KINDS)
async def objects(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    async with open_test_objects(request.param, request, tmp_path, "alerts") as opened:
        yield opened


async def seed(store: AlertingStore) -> None:
    """org-a: 3 old resolved (two on one day), 1 recent resolved, 1 open; org-b: 1 old resolved."""
    plan = [
        ("alert-a1", "org-a", OLD),
        ("alert-a2", "org-a", OLD + 60_000),
        ("alert-a3", "org-a", OLD + DAY_MS),
        ("alert-a4", "org-a", RECENT),
        ("alert-b1", "org-b", OLD + 30_000),
        ("alert-open", "org-a", None),
    ]
    for i, (alert_id, org, resolved_at) in enumerate(plan):
        alert = an_alert(alert_id=alert_id, organization_id=org, device_id=f"dev-{i}", triggered_at_ms=OLD - 1000)
        assert await store.add_alert_unless_open_or_cooling(alert, 0)
        if resolved_at is not None:
            done = replace(alert, status=AlertStatus.RESOLVED, resolved_at_ms=resolved_at, resolution="fixed")
            assert await store.save_alert(done, expected_status=AlertStatus.TRIGGERED)


async def remaining(store: AlertingStore) -> set[str]:
    found = set()
    for org in ("org-a", "org-b"):
        found |= {a.alert_id for a in (await store.list_alerts(org, AlertFilter(), PageRequest())).items}
    return found


async def lines(objects: ObjectStore, key: str) -> list[dict[str, object]]:
    data = b"".join([chunk async for chunk in objects.read(key)])
    return [orjson.loads(line) for line in data.splitlines()]


async def run(archive: ResolvedAlertsArchive) -> dict[str, float]:
    counters: dict[str, float] = {}
    async for step in archive.run():
        counters = step.counters
    return counters


async def test_old_resolved_alerts_are_archived_per_org_and_day_then_deleted(
    store: AlertingStore, objects: ObjectStore
) -> None:
    await seed(store)
    counters = await run(ResolvedAlertsArchive(store, objects, 90, now_ms=lambda: NOW, batch=2))
    assert counters == {"alertsArchived": 4, "alertsDeleted": 4, "filesWritten": counters["filesWritten"]}
    assert await remaining(store) == {"alert-a4", "alert-open"}
    keys = [o.key async for o in objects.list_objects("archive/alerts/")]
    archived: dict[str, dict[str, object]] = {}
    for key in keys:
        for line in await lines(objects, key):
            assert str(line["alertId"]) not in archived  # every alert in exactly one file
            archived[str(line["alertId"])] = line
            assert key.startswith(f"archive/alerts/org_{line['organizationId']}/day_")
    assert set(archived) == {"alert-a1", "alert-a2", "alert-a3", "alert-b1"}
    assert archived["alert-a1"]["resolution"] == "fixed"
    assert archived["alert-a1"]["status"] == "resolved"
    assert archive_key("org-b", day_text(OLD), "alert-b1") in keys
    # Nothing more to do on a second run, and nothing changes.
    assert (await run(ResolvedAlertsArchive(store, objects, 90, now_ms=lambda: NOW)))["alertsDeleted"] == 0
    assert [o.key async for o in objects.list_objects("archive/alerts/")] == keys


class DeletesFail:
    """The store as a kill after the file write leaves it: the deletion never happens."""

    def __init__(self, store: AlertingStore):
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def delete_resolved(self, alert_ids: object) -> int:
        raise RuntimeError("killed before the delete")


async def test_a_run_killed_after_the_write_deletes_nothing_and_the_rerun_completes(
    store: AlertingStore, objects: ObjectStore
) -> None:
    await seed(store)
    with pytest.raises(RuntimeError):
        await run(ResolvedAlertsArchive(DeletesFail(store), objects, 90, now_ms=lambda: NOW))  # type: ignore[arg-type]
    assert len(await remaining(store)) == 6
    first_keys = [o.key async for o in objects.list_objects("archive/alerts/")]
    assert len(first_keys) == 1  # the first file was written, then the "kill"
    counters = await run(ResolvedAlertsArchive(store, objects, 90, now_ms=lambda: NOW))
    assert counters["alertsDeleted"] == 4
    assert await remaining(store) == {"alert-a4", "alert-open"}
    ids = [
        str(line["alertId"])
        for o in [o async for o in objects.list_objects("archive/alerts/")]
        for line in await lines(objects, o.key)
    ]
    assert sorted(ids) == ["alert-a1", "alert-a2", "alert-a3", "alert-b1"]  # no duplicate after the rerun


class CorruptingReads:
    """An object store whose read-back differs from what was written."""

    def __init__(self, objects: ObjectStore):
        self._objects = objects

    def __getattr__(self, name: str) -> object:
        return getattr(self._objects, name)

    async def _read(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in self._objects.read(key):
            yield chunk.replace(b"alert-a1", b"alert-zz")

    def read(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        return self._read(key)


async def test_a_file_that_does_not_verify_deletes_nothing(store: AlertingStore, objects: ObjectStore) -> None:
    await seed(store)
    archive = ResolvedAlertsArchive(store, CorruptingReads(objects), 90, now_ms=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(ArchiveNotVerified):
        await run(archive)
    assert len(await remaining(store)) == 6

"""The DeploymentStore and Leases on DynamoDB (aioboto3), for AWS deployments; the layout is in
rollout_dynamodb_items.

Compare-and-set: a deployment save is a Put conditioned on the stored `revision`, a job save an UpdateItem
conditioned on its `version_number` (and job id), so replicas and the orchestrator cannot clobber each other.

The jobs of a batch go with the deployment save. A TransactWriteItems holds at most 100 writes and a job is
two (its item and its id's key item), so a save adding more than JOBS_PER_TRANSACTION jobs is several
transactions: every one but the last carries a ConditionCheck on the expected revision and the last puts the
deployment. Jobs are written only while the deployment is still at that revision; if another writer moves it
between two transactions, the jobs already written stay and the save answers False. Those jobs are QUEUED
for a batch the stored deployment did not start: when the other writer stopped the deployment (cancel,
halt), deployments_to_drive returns it for holding open jobs and the orchestrator cancels them; when it kept
driving it, the caller reloads, starts the batch again, and its jobs are the ones already there (a job is
unique per deployment, device and operation).

Leases: DynamoDB has no server clock, so a lease's expiry is the writer's clock plus the ttl, and another
holder takes it only when its own clock is past the expiry by `skew_tolerance_seconds`. Replicas agree as
long as their clocks differ by less than that tolerance plus the ttl's margin over the renewal interval
(orchestrator: 5 s ttl renewed every second, so up to about 4 s + tolerance); NTP keeps EC2 clocks within
milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.firmware.adapters import rollout_dynamodb_items as items
from services.firmware.adapters.rollout_rows import JOB_MUTABLE, job_mutable_values, ms
from services.firmware.domain.rollout.deployment import Deployment, DeploymentStatus
from services.firmware.domain.rollout.execution import OPEN, Job
from services.firmware.domain.rollout.planning import Target
from services.firmware.domain.rollout.progress import JobCount
from services.firmware.domain.rollout.queries import JobQuery, matches
from services.firmware.domain.rollout.validation import DeploymentFilter, JobFilter
from services.kernel.clock import Clock, SystemClock
from services.kernel.pagination import Page, PageRequest
from services.runtime.dynamodb import (
    CONDITION_FAILED,
    REFUSED,
    cancellation_codes,
    ensure_table,
    error_code,
    put_items,
    query_items,
    transact_retrying_conflicts,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

# 100 writes per transaction: 49 jobs (two writes each) and the deployment's Put or ConditionCheck.
JOBS_PER_TRANSACTION = 49
BATCH_GET_LIMIT = 100
_ABSENT = "attribute_not_exists(pk)"


class DynamoDbDeploymentStore:
    def __init__(
        self, client: DynamoDBClient, table: str, *, clock: Clock | None = None, skew_tolerance_seconds: float = 1.0
    ):
        self._client = client
        self._table = table
        self._clock = clock or SystemClock()
        self._skew = timedelta(seconds=skew_tolerance_seconds)

    async def ensure_table(self) -> None:
        await ensure_table(self._client, items.table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    # Deployments.

    async def add_deployment(self, deployment: Deployment, targets: Sequence[Target]) -> None:
        # Targets first (idempotent puts), then the deployment: once it is visible, its targets are there.
        await put_items(self._client, self._table, [items.target_item(deployment.deployment_id, t) for t in targets])
        await self._client.put_item(
            TableName=self._table, Item=items.deployment_item(deployment), ConditionExpression=_ABSENT
        )

    async def get_deployment(self, deployment_id: str) -> Deployment | None:
        item = await self._get_item(items.deployment_key(deployment_id))
        return items.deployment_of(item) if item else None

    async def save_deployment(
        self, deployment: Deployment, *, expected_revision: int, new_jobs: Sequence[Job] = ()
    ) -> bool:
        revision: Any = {":expected": items.n(expected_revision)}
        put: Any = {
            "Put": {
                "TableName": self._table,
                "Item": items.deployment_item(deployment),
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": revision,
            }
        }
        check: Any = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": items.deployment_key(deployment.deployment_id),
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": revision,
            }
        }
        while True:
            # A job already there for its deployment, device and operation is kept: only absent ones are put,
            # each on condition it is still absent (another writer inserting it makes us read again).
            absent = await self._absent(new_jobs)
            chunks = [absent[i : i + JOBS_PER_TRANSACTION] for i in range(0, len(absent), JOBS_PER_TRANSACTION)]
            try:
                for chunk in chunks[:-1]:
                    await transact_retrying_conflicts(self._client, [check, *self._job_puts(chunk)])
                await transact_retrying_conflicts(self._client, [put, *self._job_puts(chunks[-1] if chunks else [])])
                return True
            except ClientError as error:
                codes = cancellation_codes(error)
                if REFUSED not in codes:
                    raise
                if codes[0] == REFUSED:
                    return False  # the deployment moved on

    async def list_deployments(self, org_id: str, query: DeploymentFilter, page: PageRequest) -> Page[Deployment]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": items.BY_ORGANIZATION,
            "KeyConditionExpression": "org_id = :org",
            "ExpressionAttributeValues": {":org": items.s(org_id)},
            "ScanIndexForward": False,
        }
        found = [
            d
            async for d in self._deployments(request)
            if (query.status is None or d.status is query.status)
            and (query.firmware_id is None or d.image.firmware_id == query.firmware_id)
        ]
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def deployments_to_drive(self, now: datetime) -> list[str]:
        request = {
            "TableName": self._table,
            "IndexName": items.WATCHED,
            "KeyConditionExpression": "watch = :watch",
            "ExpressionAttributeValues": {":watch": items.s(items.WATCH)},
        }
        ids = [str(item["deployment_id"]["S"]) async for item in query_items(self._client, request)]
        due: list[str] = []
        for deployment_id in ids:
            d = await self.get_deployment(deployment_id)
            if d is None:
                continue
            if d.status.driven or (d.status is DeploymentStatus.SCHEDULED and _started_by(d, now)):
                due.append(deployment_id)
            elif d.status is not DeploymentStatus.SCHEDULED:
                # Stopped: driven while it holds open jobs (to cancel them), otherwise no longer watched.
                if await self._has_open_jobs(deployment_id):
                    due.append(deployment_id)
                else:
                    await self._unwatch(d)
        return sorted(due)

    async def targets_of_batch(self, deployment_id: str, batch_id: int) -> list[Target]:
        request = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": items.partition(deployment_id),
                ":prefix": items.s(items.target_prefix(batch_id)),
            },
            "ConsistentRead": True,
        }
        return [items.target_of(item) async for item in query_items(self._client, request)]

    # Jobs.

    async def get_job(self, job_id: str) -> Job | None:
        where = await self._get_item(items.job_id_key(job_id))
        if where is None:
            return None
        item = await self._get_item({"pk": where["deployment"], "sk": where["job_sk"]})
        job = items.job_of(item) if item else None
        return job if job is not None and job.job_id == job_id else None

    async def save_job(self, job: Job, *, expected_version: int) -> bool:
        values = dict(zip(JOB_MUTABLE, job_mutable_values(job), strict=True))
        sets, removes = [], []
        bound: dict[str, Any] = {":expected": items.n(expected_version), ":job_id": items.s(job.job_id)}
        names = {f"#{name}": name for name in JOB_MUTABLE}
        for name, value in values.items():
            if value is None:
                removes.append(f"#{name}")
            else:
                sets.append(f"#{name} = :{name}")
                bound[f":{name}"] = items.n(value) if isinstance(value, int) else items.s(value)
        opened = items.open_attributes(job)
        for name in ("open_device", "queued_key"):
            if name in opened:
                sets.append(f"{name} = :{name}")
                bound[f":{name}"] = opened[name]
            else:
                removes.append(name)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return await self._update(
            items.job_key(job),
            expression,
            "#version_number = :expected AND job_id = :job_id",
            bound,
            names,
        )

    async def mark_notified(self, job_id: str, attempt: int, at: datetime) -> bool:
        where = await self._get_item(items.job_id_key(job_id))
        if where is None:
            return False
        return await self._update(
            {"pk": where["deployment"], "sk": where["job_sk"]},
            "SET notified_attempt = :attempt, active_since_ms = :at",
            "attempt = :attempt AND job_id = :job_id",
            {":attempt": items.n(attempt), ":at": items.n(ms(at) or 0), ":job_id": items.s(job_id)},
        )

    async def jobs(self, deployment_id: str, query: JobQuery) -> list[Job]:
        prefix = items.job_sk(query.operation, "") if query.operation is not None else items.JOB_PREFIX
        found = [
            j
            for j in await self._jobs_of(deployment_id, prefix)
            if matches(query, j.status, j.operation, j.attempt, j.notified_attempt, j.active_since)
        ]
        return sorted(found, key=lambda j: (j.batch_id, j.device_id, j.operation.value))

    async def list_jobs(self, deployment_id: str, query: JobFilter, page: PageRequest) -> Page[Job]:
        found = [
            j
            for j in await self._jobs_of(deployment_id, items.JOB_PREFIX)
            if (query.status is None or j.status is query.status)
            and (query.batch_id is None or j.batch_id == query.batch_id)
        ]
        found.sort(key=lambda j: (j.batch_id, j.operation.value, j.device_id))
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def job_counts(self, deployment_id: str) -> list[JobCount]:
        counter = Counter(
            (j.batch_id, j.operation, j.status, j.attempt) for j in await self._jobs_of(deployment_id, items.JOB_PREFIX)
        )
        return [JobCount(b, o, s, a, n) for (b, o, s, a), n in sorted(counter.items())]

    async def open_jobs_of_device(self, device_id: str) -> list[Job]:
        request = {
            "TableName": self._table,
            "IndexName": items.OPEN_BY_DEVICE,
            "KeyConditionExpression": "open_device = :device",
            "ExpressionAttributeValues": {":device": items.s(device_id)},
        }
        found = [items.job_of(item) async for item in query_items(self._client, request)]
        return [j for j in found if j.status in OPEN]

    # Leases, on the writer's clock (see the module's docstring for the skew tolerance).

    async def try_acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        now = self._clock.now()
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=items.lease_key(name)
                | {"holder": items.s(holder), "expires_at_ms": items.n(_expiry(now, ttl_seconds))},
                ConditionExpression=f"{_ABSENT} OR holder = :me OR expires_at_ms < :expired",
                ExpressionAttributeValues={
                    ":me": items.s(holder),
                    ":expired": items.n(ms(now - self._skew) or 0),
                },
            )
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    async def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        return await self._update(
            items.lease_key(name),
            "SET expires_at_ms = :expires",
            "holder = :me",
            {":me": items.s(holder), ":expires": items.n(_expiry(self._clock.now(), ttl_seconds))},
        )

    async def release(self, name: str, holder: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=items.lease_key(name),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": items.s(holder)},
            )
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise

    # Helpers.

    def _job_puts(self, jobs: Sequence[Job]) -> list[Any]:
        writes: list[Any] = []
        for job in jobs:
            where = items.job_id_key(job.job_id) | {
                "deployment": items.partition(job.deployment_id),
                "job_sk": items.s(items.job_sk(job.operation, job.device_id)),
            }
            writes.append(
                {"Put": {"TableName": self._table, "Item": items.job_item(job), "ConditionExpression": _ABSENT}}
            )
            writes.append({"Put": {"TableName": self._table, "Item": where}})
        return writes

    async def _absent(self, jobs: Sequence[Job]) -> list[Job]:
        """The jobs whose (deployment, device, operation) holds no job yet, read strongly consistent."""
        present: set[tuple[str, str]] = set()
        keys = [items.job_key(j) for j in jobs]
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            wanted: Any = {self._table: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}}
            while wanted:
                reply = await self._client.batch_get_item(RequestItems=wanted)
                for item in reply.get("Responses", {}).get(self._table, []):
                    present.add((str(item["pk"]["S"]), str(item["sk"]["S"])))
                wanted = reply.get("UnprocessedKeys") or None
        return [j for j, key in zip(jobs, keys, strict=True) if (key["pk"]["S"], key["sk"]["S"]) not in present]

    async def _jobs_of(self, deployment_id: str, prefix: str) -> list[Job]:
        request = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": items.partition(deployment_id), ":prefix": items.s(prefix)},
            "ConsistentRead": True,
        }
        return [items.job_of(item) async for item in query_items(self._client, request)]

    async def _has_open_jobs(self, deployment_id: str) -> bool:
        return any(j.status in OPEN for j in await self._jobs_of(deployment_id, items.JOB_PREFIX))

    async def _unwatch(self, deployment: Deployment) -> None:
        # On its revision: a save in between (which may add jobs) watches it again.
        await self._update(
            items.deployment_key(deployment.deployment_id),
            "REMOVE watch",
            "revision = :revision",
            {":revision": items.n(deployment.revision)},
        )

    async def _deployments(self, request: dict[str, Any]) -> AsyncIterator[Deployment]:
        async for item in query_items(self._client, request):
            yield items.deployment_of(item)

    async def _update(
        self,
        key: dict[str, Any],
        expression: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        """A conditional UpdateItem on an existing item; False when the condition (or the item) is missing."""
        request: Any = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": f"attribute_exists(pk) AND {condition}",
            "ExpressionAttributeValues": values,
        }
        used = {k: v for k, v in (names or {}).items() if k in expression or k in condition}
        if used:
            request["ExpressionAttributeNames"] = used
        try:
            await self._client.update_item(**request)
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    async def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        reply = await self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = reply.get("Item")
        return item


def _started_by(deployment: Deployment, now: datetime) -> bool:
    return deployment.scheduled_start is not None and deployment.scheduled_start <= now


def _expiry(now: datetime, ttl_seconds: float) -> int:
    return ms(now + timedelta(seconds=ttl_seconds)) or 0

"""The usage report (§6.4) through the real bootstraps on one in-process bus: identity (one admin, one
viewer), analytics and notification. Readings and the gateway's API-call counts arrive as events (real
protobuf); RunUsageReports (a service token, streamed progress) stores the month's report and announces it;
the admin gets one email over SMTP however often the job runs; GetUsageReport answers the admin and refuses
the viewer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc.aio
import pytest
from iot.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from iot.common.v1 import common_pb2, jobs_pb2
from iot.identity.v1 import identity_pb2, identity_pb2_grpc
from iot.telemetry.v1 import events_pb2 as telemetry_events

from services.analytics.bootstrap import AnalyticsSettings
from services.analytics.bootstrap import build as build_analytics
from services.kernel.ids import new_id
from services.notification.bootstrap import NotificationSettings
from services.notification.bootstrap import build as build_notification
from services.runtime.auth import TokenVerifier
from services.runtime.bus import InProcessBus
from services.runtime.server import RunningServer, start_grpc_server
from services.runtime.service import BuildContext
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings
from tests.integration.identity.test_identity_grpc import ADMIN_EMAIL, ADMIN_PASSWORD, ORG, serve
from tests.support.smtp import SmtpInbox, smtp_server

SEPTEMBER = datetime(2025, 9, 20, 10, 0, tzinfo=UTC)


@dataclass
class Mesh:
    bus: InProcessBus
    identity: identity_pb2_grpc.IdentityServiceAsyncStub
    analytics: analytics_pb2_grpc.AnalyticsServiceAsyncStub
    service_token: str


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
async def mesh(tmp_path: Path, smtp: SmtpInbox, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Mesh]:
    monkeypatch.setenv("IOTMON_SMTP_URL", smtp.url)
    bus = InProcessBus()
    identity_ctx, identity_server = await serve(RuntimeSettings(data_dir=tmp_path), bus)
    settings = RuntimeSettings(data_dir=tmp_path, identity_addr=identity_server.address)
    contexts = [BuildContext(settings=settings, bus=bus) for _ in range(2)]
    servers: list[RunningServer] = []
    try:
        notification = await build_notification(contexts[0], NotificationSettings())
        analytics = await build_analytics(contexts[1], AnalyticsSettings(store="memory", workers=False))
        verifier = TokenVerifier.from_settings(settings)
        for built in (notification, analytics):
            servers.append(await start_grpc_server(built.registrations, host="127.0.0.1", port=0, verifier=verifier))
        async with (
            grpc.aio.insecure_channel(identity_server.address) as identity_channel,
            grpc.aio.insecure_channel(servers[1].address) as analytics_channel,
        ):
            yield Mesh(
                bus,
                identity_pb2_grpc.IdentityServiceStub(identity_channel),
                analytics_pb2_grpc.AnalyticsServiceStub(analytics_channel),
                ServiceTokens(settings, "iotmon-jobs").token(),
            )
    finally:
        for server in servers:
            await server.stop(0)
        for ctx in contexts:
            await ctx.resources.aclose()
        await identity_server.stop(0)
        await identity_ctx.resources.aclose()


def meta(org: str, at: datetime = SEPTEMBER) -> common_pb2.EventMeta:
    message = common_pb2.EventMeta(event_id=new_id("evt"), organization_id=org)
    message.occurred_at.FromDatetime(at)
    return message


def readings(org: str, *devices: str) -> telemetry_events.ReadingsStored:
    event = telemetry_events.ReadingsStored(meta=meta(org))
    for device in devices:
        reading = event.readings.add(device_id=device, values={"temperature": 21.5, "humidity": 40.0})
        reading.timestamp.FromDatetime(SEPTEMBER)
    return event


async def run_job(mesh: Mesh, month: str) -> list[jobs_pb2.JobProgress]:
    call = mesh.analytics.RunUsageReports(
        analytics_pb2.RunUsageReportsRequest(month=month),
        metadata=(("authorization", f"Bearer {mesh.service_token}"),),
    )
    return [response.progress async for response in call]


async def test_the_months_usage_is_reported_emailed_to_admins_once_and_readable_by_them(
    mesh: Mesh, smtp: SmtpInbox
) -> None:
    signed_in = await mesh.identity.IssueToken(
        identity_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    )
    admin = (("authorization", f"Bearer {signed_in.access_token}"),)
    await mesh.identity.CreateUser(
        identity_pb2.CreateUserRequest(email="view@example.com", name="V", role="viewer", password="password1"),
        metadata=admin,
    )
    viewer_token = await mesh.identity.IssueToken(
        identity_pb2.IssueTokenRequest(email="view@example.com", password="password1")
    )

    stored = readings(ORG, "dev-1", "dev-2", "dev-1")
    await mesh.bus.publish("telemetry.readings_stored", stored)
    await mesh.bus.publish("telemetry.readings_stored", stored)  # redelivered: counted once
    await mesh.bus.publish("gateway.api_calls", jobs_pb2.ApiCallsCounted(meta=meta(ORG), calls=1200))
    await mesh.bus.publish("gateway.api_calls", jobs_pb2.ApiCallsCounted(meta=meta("org-other"), calls=3))

    steps = await run_job(mesh, "2025-09")
    assert steps[-1].finished
    assert steps[-1].counters["reports"] == 2
    await asyncio.to_thread(smtp.wait_for, 1, 15)
    await run_job(mesh, "2025-09")  # a rerun: the report is replaced, nobody is mailed twice
    await asyncio.sleep(0.5)

    mails = smtp.received()
    assert [str(m["To"]) for m in mails] == [ADMIN_EMAIL]
    assert str(mails[0]["Subject"]) == f"Usage report 2025-09: USD 0.20 estimated ({ORG})"
    body = mails[0].get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Messages:        3" in text
    assert "Devices:         2" in text
    assert "API calls:       1,200" in text
    assert "96 bytes" in text  # 3 readings × 2 metrics × 16 bytes

    report = await mesh.analytics.GetUsageReport(analytics_pb2.GetUsageReportRequest(month="2025-09"), metadata=admin)
    assert (report.organization_id, report.month, report.messages, report.devices, report.api_calls) == (
        ORG,
        "2025-09",
        3,
        2,
        1200,
    )
    assert (report.data_volume, report.estimated_cost, report.currency) == (96, 0.2, "USD")

    viewer = (("authorization", f"Bearer {viewer_token.access_token}"),)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await mesh.analytics.GetUsageReport(analytics_pb2.GetUsageReportRequest(month="2025-09"), metadata=viewer)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as users_refused:
        await mesh.analytics.RunUsageReports(analytics_pb2.RunUsageReportsRequest(), metadata=admin).read()
    assert users_refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await mesh.analytics.GetUsageReport(analytics_pb2.GetUsageReportRequest(month="2025-9"), metadata=admin)
    assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert mesh.bus.dead_letters == []

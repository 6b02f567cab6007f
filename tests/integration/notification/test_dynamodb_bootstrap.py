"""IOTMON_NOTIFICATION_STORE=dynamodb for real: the bootstrap beside a real identity service keeps the delivery
log in a DynamoDB table on moto, not in the data directory."""

from __future__ import annotations

from pathlib import Path

import grpc.aio
import pytest
from iot.identity.v1 import identity_pb2, identity_pb2_grpc
from iot.notification.v1 import notification_pb2, notification_pb2_grpc

from services.kernel.pagination import PageRequest
from services.notification.adapters.bus_events import ALERT_TRIGGERED
from services.notification.bootstrap import NotificationSettings, build
from services.notification.domain.model import DeliveryFilter, DeliveryStatus
from services.runtime.auth import TokenVerifier
from services.runtime.bus import InProcessBus
from services.runtime.server import start_grpc_server
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.integration.identity.test_identity_grpc import ADMIN_EMAIL, ADMIN_PASSWORD, ORG, serve
from tests.integration.notification.support import alert_triggered
from tests.support.dynamodb import moto_dynamodb, require_moto, unique_name
from tests.support.moto import REGION
from tests.support.smtp import SmtpInbox

pytestmark = pytest.mark.needs_server


async def test_an_alert_is_mailed_and_logged_in_dynamodb(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpInbox
) -> None:
    require_moto()
    table = unique_name("deliveries")
    bus = InProcessBus()
    # One data directory, as `iotmon up` has: the service token the identity service accepts is kept there.
    identity_ctx, identity_server = await serve(RuntimeSettings(data_dir=tmp_path), bus)
    runtime = RuntimeSettings(data_dir=tmp_path, identity_addr=identity_server.address)
    ctx = BuildContext(settings=runtime, bus=bus)
    settings = NotificationSettings(
        store="dynamodb",
        dynamodb_table=table,
        aws_endpoint_url=request.getfixturevalue("moto_endpoint"),
        aws_region=REGION,
        smtp_url=smtp.url,
    )
    try:
        built = await build(ctx, settings)
        server = await start_grpc_server(
            built.registrations, host="127.0.0.1", port=0, verifier=TokenVerifier.from_settings(runtime)
        )
        await bus.publish(ALERT_TRIGGERED, alert_triggered("alert-42", channels=("email",), organization_id=ORG))
        [mail] = smtp.messages
        assert mail["To"] == ADMIN_EMAIL
        async with (
            grpc.aio.insecure_channel(identity_server.address) as identity_channel,
            grpc.aio.insecure_channel(server.address) as channel,
        ):
            token = await identity_pb2_grpc.IdentityServiceStub(identity_channel).IssueToken(
                identity_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
            )
            listed = await notification_pb2_grpc.NotificationServiceStub(channel).ListDeliveries(
                notification_pb2.ListDeliveriesRequest(),
                metadata=[("authorization", f"Bearer {token.access_token}")],
            )
        await server.stop(0)
    finally:
        await ctx.resources.aclose()
        await identity_server.stop(0)
        await identity_ctx.resources.aclose()
    [delivery] = listed.items
    assert (delivery.alert_id, delivery.status, delivery.attempts) == ("alert-42", "sent", 1)
    assert not (tmp_path / "notification.db").exists()
    # The row is in the table, read by a log of another process.
    async with moto_dynamodb(request) as client:
        from services.notification.adapters.delivery_log_dynamodb import DynamoDbDeliveryLog

        page = await DynamoDbDeliveryLog(client, table).page(DeliveryFilter(ORG), PageRequest())
    assert [(d.alert_id, d.status) for d in page.items] == [("alert-42", DeliveryStatus.SENT)]

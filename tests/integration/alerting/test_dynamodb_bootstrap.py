"""IOTMON_ALERTING_STORE=dynamodb for real: the bootstrap creates the tables on moto, and a rule created
through gRPC is there for the next process."""

from __future__ import annotations

from pathlib import Path

import grpc.aio
import pytest
from google.protobuf import json_format
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc

from services.alerting.bootstrap import AlertingSettings
from tests.integration.alerting.support import alerting_stack
from tests.integration.alerting.test_servicer import SPEC_RULE
from tests.integration.device.support import as_user
from tests.support.dynamodb import moto_dynamodb, table_names, unique_name
from tests.support.moto import REGION
from tests.support.tokens import TokenMinter

pytestmark = pytest.mark.needs_server


async def test_rules_survive_a_restart_on_dynamodb(
    request: pytest.FixtureRequest, tmp_path: Path, token_minter: TokenMinter
) -> None:
    prefix = unique_name("alerting") + "-"
    async with moto_dynamodb(request) as client:
        settings = AlertingSettings(
            store="dynamodb",
            dynamodb_table_prefix=prefix,
            aws_endpoint_url=request.getfixturevalue("moto_endpoint"),
            aws_region=REGION,
        )
        admin = as_user(token_minter, role="admin")
        create = json_format.ParseDict(SPEC_RULE, alerting_pb2.CreateAlertRuleRequest())
        async with (
            alerting_stack(token_minter, tmp_path / "first", settings) as first,
            grpc.aio.insecure_channel(first.address) as channel,
        ):
            created = await alerting_pb2_grpc.AlertingServiceStub(channel).CreateAlertRule(create, metadata=admin)
        tables = await table_names(client)
        assert {f"{prefix}rules", f"{prefix}alerts"} <= set(tables)
        # Another data directory: nothing is kept locally, the rule comes back from DynamoDB.
        async with (
            alerting_stack(token_minter, tmp_path / "second", settings) as second,
            grpc.aio.insecure_channel(second.address) as channel,
        ):
            stub = alerting_pb2_grpc.AlertingServiceStub(channel)
            listed = await stub.ListAlertRules(alerting_pb2.ListAlertRulesRequest(), metadata=admin)
        assert list(listed.items) == [created.rule]
        assert not (tmp_path / "first" / "alerting.db").exists()

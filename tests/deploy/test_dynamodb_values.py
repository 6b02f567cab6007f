"""The chart can put alerting, notification, telemetry dead letters, firmware and analytics on DynamoDB by
values alone, and the variables it renders are the ones the services' settings read."""

from __future__ import annotations

from typing import Any

import pytest

from services.alerting.bootstrap import AlertingSettings
from services.analytics.bootstrap import AnalyticsSettings
from services.firmware.bootstrap import FirmwareSettings
from services.notification.bootstrap import NotificationSettings
from services.telemetry.bootstrap import TelemetrySettings
from tests.deploy.conftest import of_kind
from tests.deploy.test_chart import RELEASE, env_of

ON_DYNAMODB = {
    "services.alerting.env.IOTMON_ALERTING_STORE": "dynamodb",
    "services.notification.env.IOTMON_NOTIFICATION_STORE": "dynamodb",
    "services.telemetry.env.IOTMON_TELEMETRY_DLQ": "dynamodb",
    "services.firmware.env.IOTMON_FIRMWARE_STORE": "dynamodb",
    "services.analytics.env.IOTMON_ANALYTICS_STORE": "dynamodb",
}


def plain(env: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in env.items() if isinstance(value, str)}


def test_defaults_keep_postgres_and_name_the_tables(render) -> None:
    deployments = of_kind(render(), "Deployment")
    alerting = env_of(deployments[f"{RELEASE}-alerting"])
    assert alerting["IOTMON_ALERTING_STORE"] == "postgres"
    assert alerting["IOTMON_ALERTING_DYNAMODB_TABLE_PREFIX"] == "iotmon-alerting-"
    assert "IOTMON_TELEMETRY_DLQ" not in env_of(deployments[f"{RELEASE}-telemetry"])
    firmware = env_of(deployments[f"{RELEASE}-firmware"])
    assert (firmware["IOTMON_FIRMWARE_STORE"], firmware["IOTMON_FIRMWARE_DYNAMODB_TABLE_PREFIX"]) == (
        "postgres",
        "iotmon-firmware-",
    )
    analytics = env_of(deployments[f"{RELEASE}-analytics"])
    assert "IOTMON_ANALYTICS_STORE" not in analytics
    assert analytics["IOTMON_ANALYTICS_DYNAMODB_TABLE_PREFIX"] == "iotmon-analytics-"


def test_values_select_dynamodb_and_the_settings_read_it(render, monkeypatch: pytest.MonkeyPatch) -> None:
    deployments = of_kind(render(set_values=ON_DYNAMODB), "Deployment")

    def settings_of(service: str, kind: type[Any]) -> Any:
        with monkeypatch.context() as patched:
            for name, value in plain(env_of(deployments[f"{RELEASE}-{service}"])).items():
                patched.setenv(name, value)
            return kind()

    alerting: AlertingSettings = settings_of("alerting", AlertingSettings)
    assert (alerting.store, alerting.dynamodb_table_prefix, alerting.dynamodb_create_tables) == (
        "dynamodb",
        "iotmon-alerting-",
        False,
    )
    notification: NotificationSettings = settings_of("notification", NotificationSettings)
    assert (notification.store, notification.dynamodb_table, notification.dynamodb_create_table) == (
        "dynamodb",
        "iotmon-notification-deliveries",
        False,
    )
    telemetry: TelemetrySettings = settings_of("telemetry", TelemetrySettings)
    assert (telemetry.dlq, telemetry.dlq_dynamodb_table, telemetry.dlq_dynamodb_create_table) == (
        "dynamodb",
        "iotmon-telemetry-dead-letters",
        False,
    )
    firmware: FirmwareSettings = settings_of("firmware", FirmwareSettings)
    assert (firmware.store, firmware.dynamodb_table_prefix, firmware.dynamodb_create_tables) == (
        "dynamodb",
        "iotmon-firmware-",
        False,
    )
    analytics: AnalyticsSettings = settings_of("analytics", AnalyticsSettings)
    assert (analytics.store, analytics.dynamodb_table_prefix, analytics.dynamodb_create_tables) == (
        "dynamodb",
        "iotmon-analytics-",
        False,
    )
    # The region comes from the aws backend, which also gives these pods the IRSA role's credentials.
    assert env_of(deployments[f"{RELEASE}-alerting"])["AWS_REGION"] == "us-east-1"

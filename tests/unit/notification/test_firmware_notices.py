"""Firmware notices: which events become one, how serious, who hears of it, on which channels, in what words."""

from __future__ import annotations

from dataclasses import replace

from services.notification.adapters.templates import JinjaRenderer
from services.notification.domain.firmware_notices import (
    ADMIN_ACTIONS,
    admins_of,
    deployment_notice,
    validation_notice,
)
from services.notification.domain.model import (
    Channel,
    DeploymentCounts,
    FirmwareNotice,
    FirmwareNoticeKind,
    Severity,
)
from services.notification.domain.plan import delivery_id, plan_for
from tests.unit.notification.support import NIGHT_IN_NEW_YORK, ORG, T0, alert, recipient

COUNTS = DeploymentCounts(total=30, succeeded=18, failed=2)


def halted() -> FirmwareNotice:
    notice = deployment_notice(
        ORG, "dep-456", "fw-123", "v2.1.0", "halted", "batch 2 success rate 80% below 95%", COUNTS, T0
    )
    assert notice is not None
    return notice


def test_validated_and_rejected_firmware_are_noticed_under_their_own_keys() -> None:
    validated = validation_notice(ORG, "fw-123", "v2.1.0", "validated", "", T0)
    rejected = validation_notice(ORG, "fw-123", "v2.1.0", "REJECTED", " bad magic ", T0)
    assert validated is not None
    assert rejected is not None
    assert (validated.notice_id, validated.kind, validated.severity, validated.reason) == (
        "firmware:fw-123:validated",
        FirmwareNoticeKind.FIRMWARE_VALIDATED,
        Severity.INFO,
        "",
    )
    assert (rejected.notice_id, rejected.kind, rejected.severity, rejected.reason) == (
        "firmware:fw-123:rejected",
        FirmwareNoticeKind.FIRMWARE_REJECTED,
        Severity.WARNING,
        "bad magic",
    )
    assert rejected.alert_id == rejected.notice_id  # the delivery log's key
    assert validation_notice(ORG, "fw-123", "v2.1.0", "processing", "", T0) is None


def test_only_final_deployment_statuses_are_noticed_one_key_per_deployment_and_status() -> None:
    expected = {
        "completed": (FirmwareNoticeKind.DEPLOYMENT_COMPLETED, Severity.INFO),
        "halted": (FirmwareNoticeKind.DEPLOYMENT_HALTED, Severity.WARNING),
        "cancelled": (FirmwareNoticeKind.DEPLOYMENT_CANCELLED, Severity.WARNING),
        "rolled_back": (FirmwareNoticeKind.DEPLOYMENT_ROLLED_BACK, Severity.WARNING),
    }
    for status, (kind, severity) in expected.items():
        notice = deployment_notice(ORG, "dep-1", "fw-1", "v2", status, "", COUNTS, T0)
        assert notice is not None
        assert (notice.notice_id, notice.kind, notice.severity, notice.counts) == (
            f"deployment:dep-1:{status}",
            kind,
            severity,
            COUNTS,
        )
    for status in ("scheduled", "in_progress", ""):
        assert deployment_notice(ORG, "dep-1", "fw-1", "v2", status, "", COUNTS, T0) is None


def test_only_admins_are_told() -> None:
    admin, operator = replace(recipient("user-a"), role="admin"), replace(recipient("user-o"), role="operator")
    assert admins_of([operator, admin, replace(recipient("user-v"), role="viewer")]) == [admin]


def test_channels_follow_severity_and_preferences_and_quiet_hours_hold_notices_back() -> None:
    admin = replace(recipient("user-a", sms_on=True), role="admin")
    completed = deployment_notice(ORG, "dep-1", "fw-1", "v2", "completed", "", COUNTS, T0)
    assert completed is not None
    assert [p.channel for p in plan_for(completed, ADMIN_ACTIONS, [admin], T0)] == [Channel.EMAIL]

    planned = plan_for(halted(), ADMIN_ACTIONS, [admin], T0)
    assert [(p.channel, p.suppressed_reason) for p in planned] == [(Channel.EMAIL, None), (Channel.PUSH, None)]
    assert planned[0].delivery_id == delivery_id("deployment:dep-456:halted", "user-a", Channel.EMAIL)

    sleeping = replace(admin, quiet_hours=NIGHT_IN_NEW_YORK)
    night = T0.replace(hour=7)  # 02:00 in New York
    reasons = [p.suppressed_reason for p in plan_for(halted(), ADMIN_ACTIONS, [sleeping], night)]
    assert reasons == ["quiet hours (22:00-08:00 America/New_York)"] * 2


def test_the_templates_name_version_deployment_reason_and_counts() -> None:
    renderer = JinjaRenderer("https://console.example.com/")
    admin = replace(recipient(), role="admin")
    email = renderer.email(halted(), admin)
    assert email.subject == "[WARNING] Deployment dep-456 of firmware v2.1.0 halted"
    for text in (email.text, email.html):
        assert "batch 2 success rate 80% below 95%" in text
        assert "18 succeeded, 2 failed, of 30" in text
        assert "https://console.example.com/firmware/deployments/dep-456" in text
    push = renderer.push(halted(), admin)
    assert (push.title, push.body) == (
        "Deployment dep-456 of firmware v2.1.0 halted",
        "batch 2 success rate 80% below 95%",
    )
    sms = renderer.sms(halted(), admin)
    assert sms.text.startswith("iotmon: Deployment dep-456 of firmware v2.1.0 halted: batch 2")


def test_a_rejection_email_says_why_and_html_escapes_what_the_uploader_wrote() -> None:
    rejected = validation_notice(ORG, "fw-9", "<b>v9</b>", "rejected", "header checksum mismatch", T0)
    assert rejected is not None
    email = JinjaRenderer().email(rejected, replace(recipient(), role="admin"))
    assert email.subject == "[WARNING] Firmware <b>v9</b> (fw-9) rejected"
    assert "header checksum mismatch" in email.text
    assert "&lt;b&gt;v9&lt;/b&gt;" in email.html
    assert "<b>v9</b>" not in email.html
    assert "/firmware/fw-9" in email.text


def test_the_halted_deployment_alert_of_the_fleet_reads_without_an_empty_device_id() -> None:
    fleet = replace(alert(Severity.CRITICAL), rule_name="Firmware deployment halted", device_id="", device_name="fleet")
    email = JinjaRenderer().email(fleet, recipient())
    assert "Firmware deployment halted fired on fleet." in email.text
    assert "()" not in email.text
    assert "fired on <strong>fleet</strong>." in email.html
    device = JinjaRenderer().email(alert(), recipient())
    assert "fired on Office-Temp-Sensor-1 (dev-abc123)." in device.text

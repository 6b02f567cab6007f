"""Alerts the platform raises itself, without a user's rule: a firmware deployment that halted (issue 6, §4.7
"halt deployment and alert").

An alert belongs to a rule and a device. A halted deployment has neither, so it gets a *system rule*, built
here and never stored (the evaluator never sees it): its id names the deployment
(`system:deployment-halted:<deploymentId>`), so the store's de-duplication on (rule, device) makes one alert
per deployment, however often the halt is announced; the device is the fleet (`deviceId` empty,
`deviceName` "fleet"). The rule's actions tell the notification service whom to tell: every channel a
critical alert allows, per each user's preferences.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.alerting.domain.alerts import AlertCandidate
from services.alerting.domain.rules import Combine, Rule, Schedule, Severity, format_number

SYSTEM_RULE_PREFIX = "system:"
DEPLOYMENT_HALTED = f"{SYSTEM_RULE_PREFIX}deployment-halted"
DEPLOYMENT_HALTED_NAME = "Firmware deployment halted"
FLEET_DEVICE_ID = ""
FLEET_DEVICE_NAME = "fleet"
# The §4.7 default when the deployment does not say its own threshold.
DEFAULT_SUCCESS_THRESHOLD = 95.0


@dataclass(frozen=True)
class DeploymentHalted:
    """A firmware deployment stopped because a batch's success rate fell below the threshold (or for
    another reason the firmware service names)."""

    organization_id: str
    deployment_id: str
    firmware_id: str
    firmware_version: str
    halt_reason: str
    # The halted batch's success rate in percent, None when no batch is marked failed.
    success_rate: float | None
    success_threshold: float
    batch_id: int | None
    at_ms: int


def deployment_halted_rule(halt: DeploymentHalted) -> Rule:
    return Rule(
        rule_id=f"{DEPLOYMENT_HALTED}:{halt.deployment_id}",
        organization_id=halt.organization_id,
        name=DEPLOYMENT_HALTED_NAME,
        description=f"Deployment {halt.deployment_id} of firmware {halt.firmware_version} halted",
        device_type="",
        device_ids=frozenset(),
        conditions=(),
        combine=Combine.ALL,
        severity=Severity.CRITICAL,
        notifications=("email", "push", "sms"),
        webhooks=(),
        cooldown_seconds=0,
        schedule=Schedule(),
        enabled=True,
        created_at_ms=halt.at_ms,
        updated_at_ms=halt.at_ms,
    )


def halt_message(halt: DeploymentHalted) -> str:
    """One line naming the deployment, the firmware version and why it stopped (the alert's condition)."""
    reason = halt.halt_reason.strip()
    if not reason and halt.success_rate is not None:
        batch = f"batch {halt.batch_id} " if halt.batch_id is not None else ""
        reason = (
            f"{batch}success rate {format_number(halt.success_rate)}% below {format_number(halt.success_threshold)}%"
        )
    return f"deployment {halt.deployment_id} of firmware {halt.firmware_version} halted: {reason or 'no reason given'}"


def deployment_halted_candidate(halt: DeploymentHalted) -> AlertCandidate:
    return AlertCandidate(
        rule=deployment_halted_rule(halt),
        device_id=FLEET_DEVICE_ID,
        device_name=FLEET_DEVICE_NAME,
        actual_value=halt.success_rate if halt.success_rate is not None else 0.0,
        threshold=halt.success_threshold,
        condition=halt_message(halt),
        at_ms=halt.at_ms,
    )

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
from services.kernel.errors import Violations

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


# System checks (§6.3): the health-check job reports a failed check of the platform. One rule per organization
# and check name (`system:check:<organizationId>:<check>`), the fleet as the device: an open alert of the check
# blocks another, so an hourly job that keeps failing raises one alert until someone resolves it.
SYSTEM_CHECK = f"{SYSTEM_RULE_PREFIX}check"
MAX_CHECK_NAME = 100
MAX_MESSAGE = 1000
# No cooldown: only an open alert of the check blocks a new one (no alert is triggered this late).
NO_COOLDOWN_SINCE_MS = 2**62


@dataclass(frozen=True)
class SystemCheckFailed:
    organization_id: str
    check: str
    severity: Severity
    message: str
    actual_value: float
    threshold: float
    at_ms: int


def system_check_rule_id(organization_id: str, check: str) -> str:
    return f"{SYSTEM_CHECK}:{organization_id}:{check}"


def parse_system_check(
    organization_id: str, check: str, severity: str, message: str, actual_value: float, threshold: float, at_ms: int
) -> SystemCheckFailed:
    """The failed check a service reports; ValidationFailed naming each field that is wrong."""
    v = Violations()
    org, name, text = organization_id.strip(), check.strip(), message.strip()
    if not org:
        v.add("organizationId", "is required")
    if not name:
        v.add("check", "is required")
    elif len(name) > MAX_CHECK_NAME:
        v.add("check", f"must be at most {MAX_CHECK_NAME} characters")
    level = (severity or Severity.CRITICAL.value).strip().lower()
    if level not in {s.value for s in Severity}:
        v.add("severity", "must be one of critical, warning, info")
    if len(text) > MAX_MESSAGE:
        v.add("message", f"must be at most {MAX_MESSAGE} characters")
    v.raise_if_any()
    return SystemCheckFailed(org, name, Severity(level), text, actual_value, threshold, at_ms)


def system_check_candidate(failed: SystemCheckFailed) -> AlertCandidate:
    rule = Rule(
        rule_id=system_check_rule_id(failed.organization_id, failed.check),
        organization_id=failed.organization_id,
        name=f"Platform check failed: {failed.check}",
        description=f"The platform's {failed.check} check failed",
        device_type="",
        device_ids=frozenset(),
        conditions=(),
        combine=Combine.ALL,
        severity=failed.severity,
        notifications=("email", "push", "sms"),
        webhooks=(),
        cooldown_seconds=0,
        schedule=Schedule(),
        enabled=True,
        created_at_ms=failed.at_ms,
        updated_at_ms=failed.at_ms,
    )
    return AlertCandidate(
        rule=rule,
        device_id=FLEET_DEVICE_ID,
        device_name=FLEET_DEVICE_NAME,
        actual_value=failed.actual_value,
        threshold=failed.threshold,
        condition=failed.message or f"{failed.check} check failed",
        at_ms=failed.at_ms,
    )

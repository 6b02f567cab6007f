"""Firmware notices for admins (issue 6; spec §4.5 step 9 "Notify admin", §4.7 step 6 "Notify admins of
deployment status"): which firmware events become one, how serious each is, and who receives it.

| event | notice | severity → channels |
|---|---|---|
| firmware validated | firmware_validated | info → email |
| firmware rejected | firmware_rejected (with the reason) | warning → email, push |
| deployment completed | deployment_completed | info → email |
| deployment halted | deployment_halted (with the reason) | warning → email, push |
| deployment cancelled | deployment_cancelled | warning → email, push |
| deployment rolled back | deployment_rolled_back | warning → email, push |

Channels then follow each admin's preferences and quiet hours exactly as for alerts (domain/channels.py):
none of these is critical, so quiet hours hold them back. A halted deployment is also a critical alert of
the alerting service, which reaches people through the alert path, quiet hours or not.
"""

from __future__ import annotations

from datetime import datetime

from services.notification.domain.model import (
    USER_CHANNELS,
    AlertActions,
    DeploymentCounts,
    FirmwareNotice,
    FirmwareNoticeKind,
    Recipient,
    Severity,
)

ADMIN_ROLE = "admin"
# Every user channel is asked for; the severity then narrows them (SEVERITY_CHANNELS), preferences after.
ADMIN_ACTIONS = AlertActions(channels=USER_CHANNELS)

_FIRMWARE_KINDS = {
    "validated": FirmwareNoticeKind.FIRMWARE_VALIDATED,
    "rejected": FirmwareNoticeKind.FIRMWARE_REJECTED,
}
_DEPLOYMENT_KINDS = {
    "completed": FirmwareNoticeKind.DEPLOYMENT_COMPLETED,
    "halted": FirmwareNoticeKind.DEPLOYMENT_HALTED,
    "cancelled": FirmwareNoticeKind.DEPLOYMENT_CANCELLED,
    "rolled_back": FirmwareNoticeKind.DEPLOYMENT_ROLLED_BACK,
}
_GOOD_NEWS = frozenset({FirmwareNoticeKind.FIRMWARE_VALIDATED, FirmwareNoticeKind.DEPLOYMENT_COMPLETED})


def severity_of(kind: FirmwareNoticeKind) -> Severity:
    return Severity.INFO if kind in _GOOD_NEWS else Severity.WARNING


def validation_notice(
    organization_id: str, firmware_id: str, version: str, status: str, reason: str, at: datetime
) -> FirmwareNotice | None:
    """The notice for a processed firmware image; None for a status admins are not told about."""
    key = status.strip().lower()
    kind = _FIRMWARE_KINDS.get(key)
    if kind is None:
        return None
    return FirmwareNotice(
        notice_id=f"firmware:{firmware_id}:{key}",
        organization_id=organization_id,
        kind=kind,
        severity=severity_of(kind),
        firmware_id=firmware_id,
        firmware_version=version,
        occurred_at=at,
        reason=reason.strip() if kind is FirmwareNoticeKind.FIRMWARE_REJECTED else "",
    )


def deployment_notice(
    organization_id: str,
    deployment_id: str,
    firmware_id: str,
    version: str,
    status: str,
    reason: str,
    counts: DeploymentCounts,
    at: datetime,
) -> FirmwareNotice | None:
    """The notice for a deployment that reached a status admins hear about (completed, halted, cancelled,
    rolled back); None while it is scheduled or in progress."""
    key = status.strip().lower()
    kind = _DEPLOYMENT_KINDS.get(key)
    if kind is None:
        return None
    return FirmwareNotice(
        notice_id=f"deployment:{deployment_id}:{key}",
        organization_id=organization_id,
        kind=kind,
        severity=severity_of(kind),
        firmware_id=firmware_id,
        firmware_version=version,
        occurred_at=at,
        deployment_id=deployment_id,
        reason=reason.strip(),
        counts=counts,
    )


def admins_of(recipients: list[Recipient]) -> list[Recipient]:
    return [r for r in recipients if r.role.strip().lower() == ADMIN_ROLE]

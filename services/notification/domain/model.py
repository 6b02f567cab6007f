"""The values the notification use cases exchange with their ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"
    SMS = "sms"
    WEBHOOK = "webhook"


# The channels a user can choose in their preferences; webhooks belong to rules, not users.
USER_CHANNELS = (Channel.EMAIL, Channel.PUSH, Channel.SMS)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class ChannelPreferences:
    """A user's on/off switch per channel; None means the user never chose (see channels.DEFAULT_OPT_IN)."""

    email: bool | None = None
    push: bool | None = None
    sms: bool | None = None

    def choice(self, channel: Channel) -> bool | None:
        value: bool | None = getattr(self, channel.value)
        return value


@dataclass(frozen=True)
class QuietHours:
    """A daily window in the user's time zone; start > end wraps past midnight (22:00–08:00)."""

    enabled: bool = False
    start: str = "22:00"
    end: str = "07:00"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Recipient:
    """A user of the alert's organization, as identity describes them."""

    user_id: str
    name: str
    email: str
    role: str = "viewer"
    channels: ChannelPreferences = field(default_factory=ChannelPreferences)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    device_tokens: tuple[str, ...] = ()
    phone_number: str | None = None
    language: str = "en"


@dataclass(frozen=True)
class Alert:
    """What a notification says about an alert (a subset of the alerting service's alert)."""

    alert_id: str
    organization_id: str
    rule_id: str
    rule_name: str
    device_id: str
    device_name: str
    severity: Severity
    condition: str
    actual_value: float
    threshold: float
    triggered_at: datetime


class FirmwareNoticeKind(StrEnum):
    """What happened to firmware or a rollout that the organization's admins hear about (issue 6)."""

    FIRMWARE_VALIDATED = "firmware_validated"
    FIRMWARE_REJECTED = "firmware_rejected"
    DEPLOYMENT_COMPLETED = "deployment_completed"
    DEPLOYMENT_HALTED = "deployment_halted"
    DEPLOYMENT_CANCELLED = "deployment_cancelled"
    DEPLOYMENT_ROLLED_BACK = "deployment_rolled_back"


@dataclass(frozen=True)
class DeploymentCounts:
    """A deployment's devices by outcome when the notice was written."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class FirmwareNotice:
    """One firmware event told to admins (domain/firmware_notices.py builds it).

    Deliveries are logged under `notice_id` in the log's alertId column, as alerts are under their id:
    `firmware:<firmwareId>:<status>` or `deployment:<deploymentId>:<status>`, so each admin hears of each
    outcome once per channel, however often the event is delivered.
    """

    notice_id: str
    organization_id: str
    kind: FirmwareNoticeKind
    severity: Severity
    firmware_id: str
    firmware_version: str
    occurred_at: datetime
    deployment_id: str = ""
    reason: str = ""
    counts: DeploymentCounts | None = None

    @property
    def alert_id(self) -> str:
        """The delivery log's key for this notice (the column alerts use for their id)."""
        return self.notice_id


@dataclass(frozen=True)
class UsageNotice:
    """An organization's monthly usage report (§6.4) emailed to its admins (domain/usage_notices.py).

    Logged under `usage:<organizationId>:<month>`, so each admin gets one email per month however often the
    report is announced (a rerun of the job, a redelivered event).
    """

    organization_id: str
    month: str
    data_bytes: float
    messages: float
    devices: int
    api_calls: float
    estimated_cost: float
    currency: str
    occurred_at: datetime
    severity: Severity = Severity.INFO

    @property
    def alert_id(self) -> str:
        """The delivery log's key (the column alerts use for their id)."""
        return f"usage:{self.organization_id}:{self.month}"


@dataclass(frozen=True)
class AlertActions:
    """The rule's actions: the user channels it asks for and the webhook URLs it calls."""

    channels: tuple[Channel, ...] = ()
    webhooks: tuple[str, ...] = ()
    # Quiet hours hold back what is not critical; a monthly report held back would never be sent at all.
    ignore_quiet_hours: bool = False


@dataclass(frozen=True)
class AlertNotice:
    """One alert to notify about: what the alerting service publishes on alerting.alert_triggered."""

    alert: Alert
    actions: AlertActions


# What a delivery tells of: an alert, or a firmware notice or usage report for admins.
Subject = Alert | FirmwareNotice | UsageNotice


@dataclass(frozen=True)
class Delivery:
    """One attempt to tell one user (or one webhook) about one alert on one channel: a delivery log row.

    `delivery_id` is derived from (alert, user, channel, target), so a redelivered event finds the same row,
    and it doubles as the email Message-ID and the webhook idempotency key receivers may deduplicate on.
    """

    delivery_id: str
    alert_id: str
    organization_id: str
    user_id: str
    channel: Channel
    target: str
    status: DeliveryStatus
    created_at: datetime
    attempts: int = 0
    error: str | None = None
    # A failure worth retrying (a timeout, a 5xx); permanent ones (an unregistered token, a 4xx) are final.
    retryable: bool = False
    sent_at: datetime | None = None
    # Who holds the pending row, until when, and the token of that claim (compare-and-set on finish).
    owner: str = ""
    lease_until: datetime | None = None
    claim_token: str = ""
    # The rendered message (JSON); with the outbox email backend this is the only copy.
    content: str = ""
    # When the channel was handed the message past the point of no return (SMTP: the final line of DATA
    # written). A claim that ends here without an answer counts as sent: see domain/claims.py.
    handed_over_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryOutcome:
    """How a claim ended, as the log records it on its row."""

    status: DeliveryStatus  # sent or failed
    error: str | None = None
    retryable: bool = False
    extra_attempts: int = 0  # tries the channel made beyond the first (its own retries)
    sent_at: datetime | None = None
    content: str = ""


@dataclass(frozen=True)
class DeliveryFilter:
    organization_id: str
    alert_id: str | None = None
    channel: Channel | None = None
    status: DeliveryStatus | None = None

"""Which channels tell a user about an alert: the rule's actions ∩ the severity's channels ∩ the user's
preferences ∩ what the user can receive, then quiet hours.

| severity | channels it allows | quiet hours        |
|----------|--------------------|--------------------|
| info     | email              | suppressed         |
| warning  | email, push        | suppressed         |
| critical | email, push, sms   | bypassed (sent)    |

Channels the rule or the severity does not ask for are not considered at all (no log row). Channels asked
for but turned off by the user, unreachable (no push token, no phone number) or inside quiet hours are
recorded as `suppressed` with the reason, so the log says why nobody was told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.notification.domain.model import USER_CHANNELS, AlertActions, Channel, Recipient, Severity
from services.notification.domain.quiet_hours import in_quiet_hours

SEVERITY_CHANNELS: dict[Severity, frozenset[Channel]] = {
    Severity.INFO: frozenset({Channel.EMAIL}),
    Severity.WARNING: frozenset({Channel.EMAIL, Channel.PUSH}),
    Severity.CRITICAL: frozenset({Channel.EMAIL, Channel.PUSH, Channel.SMS}),
}

# A user who never chose gets email and push; SMS costs money per message, so it is opt-in.
DEFAULT_OPT_IN: dict[Channel, bool] = {Channel.EMAIL: True, Channel.PUSH: True, Channel.SMS: False}

# Critical alerts wake people up: they are sent during quiet hours too.
QUIET_HOURS_BYPASS = frozenset({Severity.CRITICAL})


@dataclass(frozen=True)
class ChannelChoice:
    channel: Channel
    # None: send; otherwise why the delivery is recorded as suppressed.
    suppressed_reason: str | None = None


def choose_channels(
    recipient: Recipient, actions: AlertActions, severity: Severity, at: datetime
) -> list[ChannelChoice]:
    """The user channels to consider for one recipient, in a fixed order (email, push, sms)."""
    asked = set(actions.channels) & SEVERITY_CHANNELS[severity]
    quiet = (
        severity not in QUIET_HOURS_BYPASS
        and not actions.ignore_quiet_hours
        and in_quiet_hours(recipient.quiet_hours, at)
    )
    choices: list[ChannelChoice] = []
    for channel in USER_CHANNELS:
        if channel not in asked:
            continue
        reason = _unwanted(recipient, channel) or _unreachable(recipient, channel)
        if reason is None and quiet:
            q = recipient.quiet_hours
            reason = f"quiet hours ({q.start}-{q.end} {q.timezone})"
        choices.append(ChannelChoice(channel, reason))
    return choices


def _unwanted(recipient: Recipient, channel: Channel) -> str | None:
    chosen = recipient.channels.choice(channel)
    wanted = DEFAULT_OPT_IN[channel] if chosen is None else chosen
    return None if wanted else f"{channel.value} turned off in the user's preferences"


def _unreachable(recipient: Recipient, channel: Channel) -> str | None:
    if channel is Channel.EMAIL and not recipient.email:
        return "no email address"
    if channel is Channel.PUSH and not recipient.device_tokens:
        return "no push device token registered"
    if channel is Channel.SMS and not recipient.phone_number:
        return "no phone number"
    return None

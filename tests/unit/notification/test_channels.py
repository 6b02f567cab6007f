from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notification.domain.channels import ChannelChoice, choose_channels
from services.notification.domain.model import AlertActions, Channel, Severity
from tests.unit.notification.support import NIGHT_IN_NEW_YORK, T0, recipient

ALL = AlertActions((Channel.EMAIL, Channel.PUSH, Channel.SMS))
MIDNIGHT_IN_NEW_YORK = datetime(2025, 11, 15, 5, 0, tzinfo=UTC)


def channels(choices: list[ChannelChoice]) -> dict[Channel, str | None]:
    return {c.channel: c.suppressed_reason for c in choices}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.INFO, [Channel.EMAIL]),
        (Severity.WARNING, [Channel.EMAIL, Channel.PUSH]),
        (Severity.CRITICAL, [Channel.EMAIL, Channel.PUSH, Channel.SMS]),
    ],
)
def test_the_severity_bounds_the_channels(severity: Severity, expected: list[Channel]) -> None:
    chosen = choose_channels(recipient(), ALL, severity, T0)
    assert [c.channel for c in chosen] == expected
    assert all(c.suppressed_reason is None for c in chosen)


def test_only_the_channels_the_rule_asks_for_are_considered() -> None:
    chosen = choose_channels(recipient(), AlertActions((Channel.PUSH,)), Severity.CRITICAL, T0)
    assert channels(chosen) == {Channel.PUSH: None}


def test_absent_preferences_mean_email_and_push_but_no_sms() -> None:
    chosen = choose_channels(recipient(sms_on=None), ALL, Severity.CRITICAL, T0)
    assert channels(chosen)[Channel.EMAIL] is None
    assert channels(chosen)[Channel.PUSH] is None
    assert "sms turned off" in (channels(chosen)[Channel.SMS] or "")


def test_a_channel_turned_off_is_suppressed_with_the_reason() -> None:
    chosen = channels(choose_channels(recipient(email_on=False), ALL, Severity.WARNING, T0))
    assert chosen[Channel.EMAIL] == "email turned off in the user's preferences"
    assert chosen[Channel.PUSH] is None


def test_channels_the_user_cannot_receive_are_suppressed() -> None:
    chosen = channels(choose_channels(recipient(tokens=(), phone=None), ALL, Severity.CRITICAL, T0))
    assert chosen == {
        Channel.EMAIL: None,
        Channel.PUSH: "no push device token registered",
        Channel.SMS: "no phone number",
    }


@pytest.mark.parametrize("severity", [Severity.INFO, Severity.WARNING])
def test_quiet_hours_suppress_non_critical_alerts(severity: Severity) -> None:
    chosen = choose_channels(recipient(quiet=NIGHT_IN_NEW_YORK), ALL, severity, MIDNIGHT_IN_NEW_YORK)
    assert chosen
    assert all(c.suppressed_reason == "quiet hours (22:00-08:00 America/New_York)" for c in chosen)


def test_critical_alerts_bypass_quiet_hours() -> None:
    chosen = choose_channels(recipient(quiet=NIGHT_IN_NEW_YORK), ALL, Severity.CRITICAL, MIDNIGHT_IN_NEW_YORK)
    assert channels(chosen) == {Channel.EMAIL: None, Channel.PUSH: None, Channel.SMS: None}


def test_outside_quiet_hours_nothing_is_suppressed() -> None:
    chosen = choose_channels(recipient(quiet=NIGHT_IN_NEW_YORK), ALL, Severity.WARNING, T0)
    assert channels(chosen) == {Channel.EMAIL: None, Channel.PUSH: None}


def test_a_preference_reason_wins_over_quiet_hours() -> None:
    chosen = choose_channels(
        recipient(push_on=False, quiet=NIGHT_IN_NEW_YORK), ALL, Severity.WARNING, MIDNIGHT_IN_NEW_YORK
    )
    assert channels(chosen)[Channel.PUSH] == "push turned off in the user's preferences"

"""Preferences: defaults, partial merges, and validation naming each field by its JSON path."""

from __future__ import annotations

import pytest

from services.identity.domain.preferences import (
    NotificationChannels,
    NotificationChannelsPatch,
    Preferences,
    PreferencesPatch,
    QuietHours,
    QuietHoursPatch,
    merge_preferences,
)
from services.identity.domain.validation import Violations
from services.kernel.errors import ValidationFailed


def merge(current: Preferences, patch: PreferencesPatch) -> Preferences:
    violations = Violations()
    merged = merge_preferences(current, patch, violations)
    violations.raise_if_any()
    return merged


def test_defaults_of_a_new_user() -> None:
    prefs = Preferences()
    assert prefs.notifications == NotificationChannels(email=True, push=True, sms=False)
    assert prefs.quiet_hours == QuietHours(enabled=False, start="22:00", end="07:00", timezone="UTC")
    assert (prefs.theme, prefs.language) == ("light", "en")


def test_an_empty_patch_changes_nothing() -> None:
    current = Preferences(theme="dark", quiet_hours=QuietHours(True, "23:00", "06:30", "Europe/Paris"))
    assert merge(current, PreferencesPatch()) == current


def test_absent_fields_keep_their_values_at_every_level() -> None:
    current = Preferences(
        notifications=NotificationChannels(email=False, push=True, sms=True),
        quiet_hours=QuietHours(True, "23:00", "06:30", "Europe/Paris"),
        theme="dark",
        language="de",
    )
    patch = PreferencesPatch(
        notifications=NotificationChannelsPatch(push=False),
        quiet_hours=QuietHoursPatch(end="08:00", timezone="America/New_York"),
    )
    merged = merge(current, patch)
    assert merged.notifications == NotificationChannels(email=False, push=False, sms=True)
    assert merged.quiet_hours == QuietHours(True, "23:00", "08:00", "America/New_York")
    assert (merged.theme, merged.language) == ("dark", "de")


def test_a_false_value_is_applied_not_mistaken_for_absent() -> None:
    merged = merge(Preferences(), PreferencesPatch(notifications=NotificationChannelsPatch(email=False)))
    assert merged.notifications.email is False


def test_spec_example_is_accepted() -> None:
    patch = PreferencesPatch(
        notifications=NotificationChannelsPatch(email=True, push=True, sms=False),
        quiet_hours=QuietHoursPatch(enabled=True, start="22:00", end="08:00", timezone="America/New_York"),
        theme="dark",
        language="en",
    )
    merged = merge(Preferences(), patch)
    assert merged.quiet_hours == QuietHours(True, "22:00", "08:00", "America/New_York")
    assert merged.theme == "dark"


@pytest.mark.parametrize(
    ("patch", "field", "fragment"),
    [
        (PreferencesPatch(quiet_hours=QuietHoursPatch(timezone="Mars/Olympus")), "quietHours.timezone", "IANA"),
        (PreferencesPatch(quiet_hours=QuietHoursPatch(timezone="")), "quietHours.timezone", "IANA"),
        (PreferencesPatch(quiet_hours=QuietHoursPatch(start="24:00")), "quietHours.start", "HH:MM"),
        (PreferencesPatch(quiet_hours=QuietHoursPatch(end="7:00")), "quietHours.end", "HH:MM"),
        (PreferencesPatch(theme="blue"), "theme", "light, dark"),
        (PreferencesPatch(language="English"), "language", "language tag"),
    ],
)
def test_invalid_values_name_the_field(patch: PreferencesPatch, field: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        merge(Preferences(), patch)
    assert [v.field for v in caught.value.violations] == [f"preferences.{field}"]
    assert fragment in caught.value.violations[0].description
    assert caught.value.reason == "VALIDATION_ERROR"
    assert f"preferences.{field}" in caught.value.message


def test_every_invalid_field_is_reported_at_once() -> None:
    patch = PreferencesPatch(quiet_hours=QuietHoursPatch(start="25:00", timezone="Nowhere"), theme="neon")
    with pytest.raises(ValidationFailed) as caught:
        merge(Preferences(), patch)
    assert {v.field for v in caught.value.violations} == {
        "preferences.quietHours.start",
        "preferences.quietHours.timezone",
        "preferences.theme",
    }


@pytest.mark.parametrize("language", ["en", "pt-BR", "zh-Hant", "es-419"])
def test_language_tags_are_accepted(language: str) -> None:
    assert merge(Preferences(), PreferencesPatch(language=language)).language == language

"""A user as a plain JSON-compatible record (camelCase keys), shared by the SQLite and DynamoDB adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.identity.domain.model import DeviceToken, Platform, User
from services.identity.domain.preferences import NotificationChannels, Preferences, QuietHours
from services.kernel.caller import Role


def timestamp(value: datetime) -> str:
    """UTC with a fixed width, so that stored timestamps sort as strings in time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def user_to_record(user: User) -> dict[str, Any]:
    prefs = user.preferences
    return {
        "userId": user.user_id,
        "email": user.email,
        "name": user.name,
        "organizationId": user.organization_id,
        "role": user.role.label,
        "preferences": {
            "notifications": {
                "email": prefs.notifications.email,
                "push": prefs.notifications.push,
                "sms": prefs.notifications.sms,
            },
            "quietHours": {
                "enabled": prefs.quiet_hours.enabled,
                "start": prefs.quiet_hours.start,
                "end": prefs.quiet_hours.end,
                "timezone": prefs.quiet_hours.timezone,
            },
            "theme": prefs.theme,
            "language": prefs.language,
        },
        "deviceTokens": [
            {"token": t.token, "platform": t.platform.value, "registeredAt": timestamp(t.registered_at)}
            for t in user.device_tokens
        ],
        "createdAt": timestamp(user.created_at),
        "updatedAt": timestamp(user.updated_at),
        "phoneNumber": user.phone_number,
    }


def user_from_record(record: dict[str, Any]) -> User:
    prefs = record["preferences"]
    return User(
        user_id=record["userId"],
        email=record["email"],
        name=record["name"],
        organization_id=record["organizationId"],
        role=Role.parse(record["role"]),
        created_at=datetime.fromisoformat(record["createdAt"]),
        updated_at=datetime.fromisoformat(record["updatedAt"]),
        preferences=Preferences(
            notifications=NotificationChannels(**prefs["notifications"]),
            quiet_hours=QuietHours(**prefs["quietHours"]),
            theme=prefs["theme"],
            language=prefs["language"],
        ),
        device_tokens=tuple(
            DeviceToken(t["token"], Platform(t["platform"]), datetime.fromisoformat(t["registeredAt"]))
            for t in record["deviceTokens"]
        ),
        # Absent from users stored before phone numbers existed.
        phone_number=record.get("phoneNumber"),
    )

"""Protobuf ↔ domain conversions, shared by the servicer and the event adapter (no rules here)."""

from __future__ import annotations

from iot.identity.v1 import identity_pb2

from services.identity.domain.model import IssuedToken, PublicKey, User
from services.identity.domain.preferences import (
    NotificationChannelsPatch,
    Preferences,
    PreferencesPatch,
    QuietHoursPatch,
)


def user_to_proto(user: User, temporary_password: str | None = None) -> identity_pb2.User:
    message = identity_pb2.User(
        user_id=user.user_id,
        email=user.email,
        name=user.name,
        organization_id=user.organization_id,
        role=user.role.label,
        preferences=preferences_to_proto(user.preferences),
        device_tokens=[t.token for t in user.device_tokens],
    )
    message.created_at.FromDatetime(user.created_at)
    if temporary_password is not None:
        message.temporary_password = temporary_password
    if user.phone_number is not None:
        message.phone_number = user.phone_number
    return message


def preferences_to_proto(preferences: Preferences) -> identity_pb2.Preferences:
    channels, quiet = preferences.notifications, preferences.quiet_hours
    return identity_pb2.Preferences(
        notifications=identity_pb2.NotificationChannels(email=channels.email, push=channels.push, sms=channels.sms),
        quiet_hours=identity_pb2.QuietHours(
            enabled=quiet.enabled, start=quiet.start, end=quiet.end, timezone=quiet.timezone
        ),
        theme=preferences.theme,
        language=preferences.language,
    )


def preferences_patch(message: identity_pb2.Preferences) -> PreferencesPatch:
    """Only the fields the client set: proto3 `optional` gives every scalar presence."""
    notifications = quiet_hours = None
    if message.HasField("notifications"):
        n = message.notifications
        notifications = NotificationChannelsPatch(
            email=n.email if n.HasField("email") else None,
            push=n.push if n.HasField("push") else None,
            sms=n.sms if n.HasField("sms") else None,
        )
    if message.HasField("quiet_hours"):
        q = message.quiet_hours
        quiet_hours = QuietHoursPatch(
            enabled=q.enabled if q.HasField("enabled") else None,
            start=q.start if q.HasField("start") else None,
            end=q.end if q.HasField("end") else None,
            timezone=q.timezone if q.HasField("timezone") else None,
        )
    return PreferencesPatch(
        notifications=notifications,
        quiet_hours=quiet_hours,
        theme=message.theme if message.HasField("theme") else None,
        language=message.language if message.HasField("language") else None,
    )


def token_to_proto(token: IssuedToken) -> identity_pb2.IssueTokenResponse:
    return identity_pb2.IssueTokenResponse(
        access_token=token.access_token, token_type=token.token_type, expires_in=token.expires_in
    )


def jwk_to_proto(key: PublicKey) -> identity_pb2.Jwk:
    return identity_pb2.Jwk(kty=key.kty, kid=key.kid, use=key.use, alg=key.alg, n=key.n, e=key.e)

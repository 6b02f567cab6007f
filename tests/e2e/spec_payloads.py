"""Payloads copied from the spec (backend-services-design.md), used as inputs and as expected shapes."""

from __future__ import annotations

from typing import Any

# §3.1.1 input
REGISTER_DEVICE: dict[str, Any] = {
    "deviceType": "temperature-sensor-v2",
    "name": "Office-Temp-Sensor-1",
    "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
    "connectivity": {"type": "cellular", "simId": "sim-123456"},
    "metadata": {"manufacturer": "SensorCorp", "model": "TSv2-001", "serialNumber": "SN123456789"},
    "tags": ["office", "building-a"],
}

# §3.1.1 output
REGISTER_DEVICE_OUTPUT: dict[str, Any] = {
    "deviceId": "dev-abc123",
    "name": "Office-Temp-Sensor-1",
    "status": "registered",
    "provisioningCredentials": {
        "certificateArn": "arn:aws:iot:...",
        "certificatePem": "-----BEGIN CERTIFICATE-----...",
        "privateKey": "-----BEGIN RSA PRIVATE KEY-----...",
        "endpoint": "a1b2c3d4e5.iot.us-east-1.amazonaws.com",
    },
    "createdAt": "2025-11-15T10:00:00Z",
}

# §3.1.3 pagination block
PAGINATION = {"page": 1, "pageSize": 25, "totalItems": 150, "totalPages": 6, "hasNext": True, "hasPrevious": False}

# §3.3.1 output
USER_PROFILE: dict[str, Any] = {
    "userId": "user-456",
    "email": "john.doe@example.com",
    "name": "John Doe",
    "organizationId": "org-789",
    "role": "operator",
    "preferences": {
        "notifications": {"email": True, "push": True, "sms": False},
        "quietHours": {"enabled": True, "start": "22:00", "end": "08:00", "timezone": "America/New_York"},
        "theme": "dark",
        "language": "en",
    },
    "deviceTokens": ["fcm-token-123"],
    "createdAt": "2025-01-15T10:00:00Z",
}

# §8.2
ERROR_KEYS = {"code", "message", "details", "requestId"}


def same_shape(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Differences in keys and JSON types between a response and a spec example (values may differ)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = [f"{path}.{k}: missing" for k in expected if k not in actual]
        for key in expected.keys() & actual.keys():
            problems += same_shape(actual[key], expected[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array"]
        return [p for item in actual[:1] for p in same_shape(item, expected[0], f"{path}[0]")] if expected else []
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if isinstance(actual, bool) == isinstance(expected, bool) else [f"{path}: expected a boolean"]
    if isinstance(expected, (int, float)):
        return [] if isinstance(actual, (int, float)) else [f"{path}: expected a number, got {actual!r}"]
    if isinstance(expected, str):
        return [] if isinstance(actual, str) else [f"{path}: expected a string, got {actual!r}"]
    return []

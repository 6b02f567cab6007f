"""The devices a deployment targets, as the device registry describes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetDevice:
    device_id: str
    device_type: str
    # The version the device runs now (None: never reported); a rollback job reinstalls it.
    firmware_version: str | None
    online: bool

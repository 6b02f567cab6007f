"""Stand-ins for the alerting service's peers: a device-type catalog, user names, recorded events."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.alerting.domain.alerts import Alert
from services.alerting.domain.rules import Rule
from services.alerting.ports import RuleChange
from services.kernel.caller import Caller

TEMPERATURE_SENSOR_METRICS = frozenset({"temperature", "humidity", "co2", "battery", "dewPoint"})


class FixedDeviceTypes:
    def __init__(self, types: dict[str, frozenset[str]] | None = None):
        self.types = types if types is not None else {"temperature-sensor-v2": TEMPERATURE_SENSOR_METRICS}
        self.asked: list[str] = []

    async def metrics_of(self, device_type: str) -> frozenset[str] | None:
        self.asked.append(device_type)
        return self.types.get(device_type)


class NamesFromIds:
    """Every user is called after their id: `user-456` → `Name of user-456`."""

    async def name_of(self, caller: Caller) -> str:
        return f"Name of {caller.user_id}"


@dataclass
class RecordedEvents:
    triggered: list[tuple[Alert, Rule]] = field(default_factory=list)
    acknowledged: list[tuple[Alert, str]] = field(default_factory=list)
    resolved: list[tuple[Alert, str]] = field(default_factory=list)
    rule_changes: list[tuple[str, RuleChange, str]] = field(default_factory=list)


class RecordingEvents:
    def __init__(self) -> None:
        self.log = RecordedEvents()

    async def triggered(self, alert: Alert, rule: Rule) -> None:
        self.log.triggered.append((alert, rule))

    async def acknowledged(self, alert: Alert, actor_user_id: str) -> None:
        self.log.acknowledged.append((alert, actor_user_id))

    async def resolved(self, alert: Alert, actor_user_id: str) -> None:
        self.log.resolved.append((alert, actor_user_id))

    async def rule_changed(self, rule: Rule, change: RuleChange, actor_user_id: str) -> None:
        self.log.rule_changes.append((rule.rule_id, change, actor_user_id))

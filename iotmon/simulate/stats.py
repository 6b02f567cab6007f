"""What a run counts: messages sent, acknowledged and failed (with reasons), and the summary at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from iotmon.simulate.generator import GeneratorCounts


@dataclass
class Counters:
    """Shared by the pump (sent) and the transport (acknowledged, failed); read by the progress line.

    Acknowledged means: MQTT QoS 1 — PUBACK received, QoS 0 — written to the socket; HTTP and gRPC — counted
    as accepted in the service's answer; Kinesis — put_records returned no error for the record.
    """

    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def fail(self, count: int, reason: str) -> None:
        if count > 0:
            self.failed += count
            self.reasons[reason] += count


@dataclass(frozen=True)
class Summary:
    via: str
    devices: int
    seed: int
    elapsed: float
    sent: int
    acknowledged: int
    failed: int
    reasons: dict[str, int]
    readings: int
    duplicates: int
    out_of_order: int
    anomalies: int

    @property
    def sent_per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def acknowledged_per_second(self) -> float:
        return self.acknowledged / self.elapsed if self.elapsed > 0 else 0.0

    @classmethod
    def of(
        cls, *, via: str, devices: int, seed: int, elapsed: float, counters: Counters, generated: GeneratorCounts
    ) -> Summary:
        return cls(
            via=via,
            devices=devices,
            seed=seed,
            elapsed=elapsed,
            sent=counters.sent,
            acknowledged=counters.acknowledged,
            failed=counters.failed,
            reasons=dict(counters.reasons.most_common()),
            readings=generated.readings,
            duplicates=generated.duplicates,
            out_of_order=generated.out_of_order,
            anomalies=generated.anomalies,
        )

    def render(self) -> str:
        lines = [
            f"simulated {self.devices} devices via {self.via} for {self.elapsed:.1f} s (seed {self.seed})",
            f"readings      {self.readings:,} distinct ({self.out_of_order:,} out of order, "
            f"{self.anomalies:,} with a spike) + {self.duplicates:,} duplicates",
            f"sent          {self.sent:,} messages ({self.sent_per_second:,.0f}/s)",
            f"acknowledged  {self.acknowledged:,} ({self.acknowledged_per_second:,.0f}/s)",
            f"failed        {self.failed:,}" + (f"  ({_reasons(self.reasons)})" if self.reasons else ""),
        ]
        return "\n".join(lines)


def _reasons(reasons: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count:,}" for reason, count in reasons.items())

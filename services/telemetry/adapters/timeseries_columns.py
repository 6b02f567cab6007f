"""Readings flattened to datapoint columns, the shape both SQL stores load in bulk (Arrow, COPY).

A store gives each (organization, device) and each metric name a small integer key once, so a datapoint is
four numbers and a flag. The flattening is the per-datapoint Python work of a write, so it is kept to one list
concatenation per column and reading: metric keys are cached per metric-name tuple (every reading of a device
type has the same), each call's owner column is filled once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.telemetry.domain.model import Reading

DeviceName = tuple[str, str]  # organization, device


@dataclass(slots=True)
class KeyTable:
    """Names to keys, filled as new names appear; `added` lists the names given a key since the last flush."""

    keys: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    next_key: int = 1
    added: list[tuple[int, str]] = field(default_factory=list)

    def key(self, name: str) -> int:
        key = self.keys.get(name)
        if key is None:
            key = self.next_key
            self.remember(key, name)
            self.added.append((key, name))
        return key

    def remember(self, key: int, name: str) -> None:
        self.names[key] = name
        self.keys[name] = key
        self.next_key = max(self.next_key, key + 1)


@dataclass(slots=True)
class DeviceTable:
    keys: dict[DeviceName, int] = field(default_factory=dict)
    names: dict[int, DeviceName] = field(default_factory=dict)
    next_key: int = 1
    added: list[tuple[int, str, str]] = field(default_factory=list)

    def key(self, organization_id: str, device_id: str) -> int:
        key = self.keys.get((organization_id, device_id))
        if key is None:
            key = self.next_key
            self.remember(key, organization_id, device_id)
            self.added.append((key, organization_id, device_id))
        return key

    def remember(self, key: int, organization_id: str, device_id: str) -> None:
        # names first: a reader that finds the key must find its name (another thread may be reading).
        self.names[key] = (organization_id, device_id)
        self.keys[(organization_id, device_id)] = key
        self.next_key = max(self.next_key, key + 1)

    def find(self, organization_id: str | None, device_ids: Sequence[str] | None) -> list[int]:
        """Keys of the named devices (of every organization when None), or of all of an organization's."""
        if device_ids is not None and organization_id is not None:
            return [k for d in device_ids if (k := self.keys.get((organization_id, d))) is not None]
        # A copy: the writer's thread may add devices meanwhile (list() of a dict's items holds the GIL).
        return [
            key
            for (organization, device), key in list(self.keys.items())
            if organization_id in (None, organization) and (device_ids is None or device in device_ids)
        ]


@dataclass(slots=True)
class Datapoints:
    """One entry per (reading, metric); `owner` is the index of the write() call a datapoint came from."""

    device: list[int] = field(default_factory=list)
    metric: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    anomaly: list[bool] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)


def flatten(
    calls: Sequence[Sequence[Reading]],
    device_key: Callable[[str, str], int],
    metric_key: Callable[[str], int],
) -> Datapoints:
    """The datapoints of every call's readings, in order; the key functions name each device and metric."""
    out = Datapoints()
    device, metric, ts, value, anomaly, owners = out.device, out.metric, out.ts, out.value, out.anomaly, out.owner
    # Metric keys per metric-name tuple: every reading of a device type has the same names.
    metric_keys: dict[tuple[str, ...], list[int]] = {}
    for owner, readings in enumerate(calls):
        for reading in readings:
            values = reading.values
            names = tuple(values)
            keys = metric_keys.get(names)
            if keys is None:
                keys = metric_keys[names] = [metric_key(name) for name in names]
            n = len(keys)
            # += of a small list: about half the cost of extend(itertools.repeat(...)).
            metric += keys
            value += values.values()
            device += [device_key(reading.organization_id, reading.device_id)] * n
            ts += [reading.timestamp_ms] * n
            if reading.anomalies:
                anomaly += [name in reading.anomalies for name in names]
            else:
                anomaly += [False] * n
        owners += [owner] * (len(ts) - len(owners))  # once per call, not per reading
    return out

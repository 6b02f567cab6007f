"""The stream evaluator: readings in, alert candidates out, with the state "held for N seconds" needs.

Pure and synchronous: the caller passes the time (`now_ms`, when the reading arrived) and raises each
candidate itself, then reports the outcome. Semantics:

- Per (rule, device) and condition, a streak starts at the first true reading and ends at a false one; a
  condition with duration D is met once its streak spans ≥ D seconds of reading time (D = 0: at once). A
  true reading that follows the previous reading of its metric by more than `hold_gap_seconds` starts a new
  streak: nobody saw the condition in between.
- A reading without a condition's metric leaves that condition as it was; but a condition whose metric has
  not arrived for `hold_gap_seconds` no longer counts (ALL would otherwise fire on a stale half).
- ALL needs every condition met, ANY one. Rate conditions compare the change per minute between
  consecutive readings of the metric. A reading older than the newest one of its metric changes nothing.
- No-data conditions are met by the sweep when a metric the device reported has not arrived for D seconds.
- Outside the rule's schedule nothing fires; state is still tracked.
- Once a candidate is out, the (rule, device) stays quiet while raise_alert runs and while the alert is open
  (until alert_resolved or a rule change), or for `retry_seconds` after raise_alert declined (dedup or
  cooldown, which the store enforces authoritatively).
- Devices silent for `idle_seconds` (and longer than every no-data duration of their rules) are forgotten.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from services.alerting.domain.alerts import AlertCandidate
from services.alerting.domain.evaluation.conditions import compared_value
from services.alerting.domain.evaluation.index import CompiledCondition, CompiledRule, RuleIndex
from services.alerting.domain.evaluation.state import BLOCKED, DeviceRef, DeviceState, MetricTrack, Watch
from services.alerting.domain.rules import ConditionKind, Rule

NO_DATA = ConditionKind.NO_DATA
THRESHOLD = ConditionKind.THRESHOLD


class Evaluator:
    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        retry_seconds: float = 10.0,
        idle_seconds: float = 3600.0,
        hold_gap_seconds: float = 600.0,
    ) -> None:
        self._index = RuleIndex(rules)
        self._devices: dict[str, DeviceState] = {}
        self._retry_ms = int(retry_seconds * 1000)
        self._idle_ms = int(idle_seconds * 1000)
        self._gap_ms = int(hold_gap_seconds * 1000)

    @property
    def rules(self) -> Mapping[str, Rule]:
        return self._index.rules

    @property
    def device_count(self) -> int:
        return len(self._devices)

    @property
    def watch_count(self) -> int:
        """(rule, device) pairs this evaluator remembers something about: a streak, a pending or open alert."""
        return sum(len(state.watches) for state in self._devices.values())

    def knows(self, device_id: str) -> bool:
        """Whether this evaluator keeps state for the device (it saw it and has not forgotten it)."""
        return device_id in self._devices

    def watches(self, organization_id: str) -> bool:
        """Whether any rule watches devices of the organization."""
        return self._index.watches(organization_id)

    def replace_rules(self, rules: Iterable[Rule]) -> set[str]:
        """Swap the rule set; rules added, edited or removed start over. Returns their ids."""
        index = RuleIndex(rules)
        changed = index.changed_since(self._index)
        self._index = index
        if changed:
            for state in self._devices.values():
                for rule_id in changed:
                    state.watches.pop(rule_id, None)
        return changed

    def on_reading(
        self, device: DeviceRef, timestamp_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[AlertCandidate]:
        """Take one reading into account; the candidates are the rules that fire on it."""
        index = self._index
        state = self._devices.get(device.device_id)
        if state is None and not index.watches_type(device.organization_id, device.device_type):
            return []  # no rule watches this kind of device: keep nothing
        state = self._device_state(device, state, now_ms)
        tracks = state.metrics
        fresh: dict[str, float] = {}
        for metric, value in values.items():
            track = tracks.get(metric)
            if track is None:
                fresh[metric] = value
                continue
            track.arrived_ms = now_ms  # even a late reading shows the metric is not silent
            if timestamp_ms >= track.timestamp_ms:
                fresh[metric] = value
        candidates: list[AlertCandidate] = []
        if fresh:
            device_id = device.device_id
            watches = state.watches
            for rule in index.rules_to_check(device.organization_id, device.device_type, fresh, watches):
                if rule.device_ids and device_id not in rule.device_ids:
                    continue
                simple = rule.simple
                if simple is not None and rule.rule_id not in watches:
                    # No streak, no pending alert: unless the condition holds now, there is nothing to do.
                    latest = fresh.get(simple[0])
                    if latest is None or not simple[1](latest, simple[2]):
                        continue
                candidate = self._observe(rule, state, fresh, timestamp_ms, now_ms)
                if candidate is not None:
                    candidates.append(candidate)
                elif simple is not None:
                    self._forget_if_clean(watches, rule.rule_id, now_ms)
        for metric, value in fresh.items():
            track = tracks.get(metric)
            if track is None:
                tracks[metric] = MetricTrack(timestamp_ms, value, now_ms)
            else:
                track.timestamp_ms, track.value = timestamp_ms, value
        return candidates

    def sweep(self, now_ms: int) -> list[AlertCandidate]:
        """Raise no-data candidates and forget devices silent for long. Call every few seconds."""
        candidates: list[AlertCandidate] = []
        idle: list[str] = []
        index = self._index
        for device_id, state in self._devices.items():
            device = state.device
            org, device_type = device.organization_id, device.device_type
            if now_ms - state.arrived_ms > max(self._idle_ms, index.longest_no_data_ms(org, device_type)):
                idle.append(device_id)
                continue
            for rule in index.no_data_rules(org, device_type):
                if not rule.device_ids or device_id in rule.device_ids:
                    candidate = self._check_silence(rule, state, now_ms)
                    if candidate is not None:
                        candidates.append(candidate)
        for device_id in idle:
            del self._devices[device_id]
        return candidates

    def raised(self, candidate: AlertCandidate, opened: bool, now_ms: int) -> None:
        """raise_alert's answer: an alert was opened (quiet until resolved), or declined (retry later)."""
        watch = self._watch_of(candidate.rule.rule_id, candidate.device_id)
        if watch is not None:
            watch.blocked_until_ms = BLOCKED if opened else now_ms + self._retry_ms

    def raise_failed(self, candidate: AlertCandidate) -> None:
        """raise_alert failed (the store is down): the next reading or redelivery may try again."""
        watch = self._watch_of(candidate.rule.rule_id, candidate.device_id)
        if watch is not None:
            watch.blocked_until_ms = 0

    def alert_resolved(self, rule_id: str, device_id: str) -> None:
        """The open alert of (rule, device) was resolved: the rule may fire again (cooldown permitting)."""
        watch = self._watch_of(rule_id, device_id)
        if watch is not None:
            watch.blocked_until_ms = 0

    def forget_device(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def _device_state(self, device: DeviceRef, state: DeviceState | None, now_ms: int) -> DeviceState:
        if state is None:
            state = self._devices[device.device_id] = DeviceState(device, now_ms)
            return state
        if state.device != device:
            if (state.device.organization_id, state.device.device_type) != (device.organization_id, device.device_type):
                state.watches.clear()  # other rules apply now
            state.device = device
        state.arrived_ms = now_ms
        return state

    @staticmethod
    def _forget_if_clean(watches: dict[str, Watch], rule_id: str, now_ms: int) -> None:
        """A one-condition watch back where a new one starts (no streak, nothing blocked any more) need not be
        kept: most devices never meet most rules' conditions, and a reading then passes those rules by."""
        watch = watches.get(rule_id)
        if watch is not None and watch.since_ms[0] is None and not watch.met[0] and watch.blocked_until_ms <= now_ms:
            del watches[rule_id]

    def _watch_of(self, rule_id: str, device_id: str) -> Watch | None:
        state = self._devices.get(device_id)
        return None if state is None else state.watches.get(rule_id)

    def _watch(self, rule: CompiledRule, state: DeviceState) -> Watch:
        watch = state.watches.get(rule.rule_id)
        if watch is None:
            watch = state.watches[rule.rule_id] = Watch.for_conditions(len(rule.conditions))
        return watch

    def _observe(
        self, rule: CompiledRule, state: DeviceState, fresh: Mapping[str, float], timestamp_ms: int, now_ms: int
    ) -> AlertCandidate | None:
        watch = self._watch(rule, state)
        since, met, values = watch.since_ms, watch.met, watch.values
        for i, metric, kind, compare, threshold, duration_ms in rule.conditions:
            value = fresh.get(metric)
            if value is None:
                continue
            if kind is NO_DATA:
                since[i], met[i] = None, False
                continue
            previous = state.metrics.get(metric)
            compared = value if kind is THRESHOLD else compared_value(kind, value, timestamp_ms, previous)
            if compared is None:
                continue
            values[i] = compared
            if not compare(compared, threshold):
                since[i], met[i] = None, False
                continue
            start = since[i]
            if start is None or (previous is not None and timestamp_ms - previous.timestamp_ms > self._gap_ms):
                start = since[i] = timestamp_ms
            met[i] = timestamp_ms - start >= duration_ms
        if not (all(met) if rule.needs_all else any(met)):
            return None  # the common case: nothing to fire, no schedule to check
        return self._fire(rule, state, watch, timestamp_ms, now_ms)

    def _check_silence(self, rule: CompiledRule, state: DeviceState, now_ms: int) -> AlertCandidate | None:
        watch = self._watch(rule, state)
        for i, metric, kind, _, _, duration_ms in rule.conditions:
            if kind is not NO_DATA:
                continue
            track = state.metrics.get(metric)
            if track is None:
                continue  # never reported: silence says nothing
            silent_ms = now_ms - track.arrived_ms
            watch.met[i] = silent_ms >= duration_ms
            watch.values[i] = silent_ms / 1000
        return self._fire(rule, state, watch, now_ms, now_ms)

    def _fire(
        self, compiled: CompiledRule, state: DeviceState, watch: Watch, at_ms: int, now_ms: int
    ) -> AlertCandidate | None:
        if watch.blocked_until_ms > now_ms:
            return None
        firing = [c for c in compiled.conditions if watch.met[c[0]] and self._current(c, state, now_ms)]
        if not firing or (compiled.needs_all and len(firing) < len(compiled.conditions)):
            return None
        rule = compiled.rule
        if not rule.schedule.active_at(datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC)):
            return None
        position = firing[0][0]
        first = rule.conditions[position]
        watch.blocked_until_ms = BLOCKED  # until raised() says how it went
        return AlertCandidate(
            rule=rule,
            device_id=state.device.device_id,
            device_name=state.device.name,
            actual_value=watch.values[position],
            threshold=float(first.duration_seconds) if first.kind is NO_DATA else first.threshold,
            condition=rule.condition_text() if compiled.needs_all else first.text(),
            at_ms=now_ms,
        )

    def _current(self, condition: CompiledCondition, state: DeviceState, now_ms: int) -> bool:
        """A met value condition counts while its metric keeps arriving (no-data ones are about silence)."""
        if condition[2] is NO_DATA:
            return True
        track = state.metrics.get(condition[1])
        return track is None or now_ms - track.arrived_ms <= self._gap_ms

"""iot.alerting.v1.AlertingService over gRPC: converts messages to domain commands and results back, nothing else.

Errors are DomainErrors raised by the use cases; the runtime's interceptor turns them into status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from google.protobuf import json_format
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from iot.common.v1 import jobs_pb2

from services.alerting.cleanup import ResolvedAlertsArchive
from services.alerting.domain.commands import (
    ActionsInput,
    ConditionInput,
    CreateRule,
    ListAlerts,
    ListRules,
    ScheduleInput,
    UpdateRule,
)
from services.alerting.domain.service import AlertingService
from services.alerting.domain.summary import AlertSummaries, AlertTally
from services.alerting.messages import alert_to_proto, millis, rule_to_proto, timestamp
from services.kernel.caller import Role
from services.runtime.context import current_caller
from services.runtime.messages import pagination_message
from services.runtime.service import NotImplementedYet

Context = grpc.aio.ServicerContext[Any, Any]


class AlertingServicer(alerting_pb2_grpc.AlertingServiceServicer):
    def __init__(
        self,
        service: AlertingService,
        *,
        summaries: AlertSummaries | None = None,
        archive: ResolvedAlertsArchive | None = None,
    ):
        self._service = service
        self._summaries = summaries
        self._archive = archive

    async def ListAlerts(
        self, request: alerting_pb2.ListAlertsRequest, context: Context
    ) -> alerting_pb2.ListAlertsResponse:
        page = await self._service.list_alerts(current_caller(), list_alerts_command(request))
        return alerting_pb2.ListAlertsResponse(
            items=[alert_to_proto(a) for a in page.items], pagination=pagination_message(page)
        )

    async def GetAlert(self, request: alerting_pb2.GetAlertRequest, context: Context) -> alerting_pb2.GetAlertResponse:
        view = await self._service.get_alert(current_caller(), request.alert_id)
        return alerting_pb2.GetAlertResponse(alert=alert_to_proto(view.alert, view.related))

    async def AcknowledgeAlert(
        self, request: alerting_pb2.AcknowledgeAlertRequest, context: Context
    ) -> alerting_pb2.AcknowledgeAlertResponse:
        comment = request.comment if request.HasField("comment") else None
        alert = await self._service.acknowledge(current_caller(), request.alert_id, comment)
        return alerting_pb2.AcknowledgeAlertResponse(alert=alert_to_proto(alert))

    async def ResolveAlert(
        self, request: alerting_pb2.ResolveAlertRequest, context: Context
    ) -> alerting_pb2.ResolveAlertResponse:
        notes = request.prevention_notes if request.HasField("prevention_notes") else None
        alert = await self._service.resolve(current_caller(), request.alert_id, request.resolution, notes)
        return alerting_pb2.ResolveAlertResponse(alert=alert_to_proto(alert))

    async def CreateAlertRule(
        self, request: alerting_pb2.CreateAlertRuleRequest, context: Context
    ) -> alerting_pb2.CreateAlertRuleResponse:
        rule = await self._service.create_rule(current_caller(), create_rule_command(request))
        return alerting_pb2.CreateAlertRuleResponse(rule=rule_to_proto(rule))

    async def GetAlertRule(
        self, request: alerting_pb2.GetAlertRuleRequest, context: Context
    ) -> alerting_pb2.GetAlertRuleResponse:
        rule = await self._service.get_rule(current_caller(), request.rule_id)
        return alerting_pb2.GetAlertRuleResponse(rule=rule_to_proto(rule))

    async def UpdateAlertRule(
        self, request: alerting_pb2.UpdateAlertRuleRequest, context: Context
    ) -> alerting_pb2.UpdateAlertRuleResponse:
        rule = await self._service.update_rule(current_caller(), update_rule_command(request))
        return alerting_pb2.UpdateAlertRuleResponse(rule=rule_to_proto(rule))

    async def DeleteAlertRule(
        self, request: alerting_pb2.DeleteAlertRuleRequest, context: Context
    ) -> alerting_pb2.DeleteAlertRuleResponse:
        rule = await self._service.delete_rule(current_caller(), request.rule_id)
        return alerting_pb2.DeleteAlertRuleResponse(
            rule_id=rule.rule_id, deleted_at=timestamp(rule.deleted_at_ms or rule.updated_at_ms)
        )

    async def ListAlertRules(
        self, request: alerting_pb2.ListAlertRulesRequest, context: Context
    ) -> alerting_pb2.ListAlertRulesResponse:
        has = request.HasField
        command = ListRules(
            device_type=request.device_type if has("device_type") else None,
            enabled=request.enabled if has("enabled") else None,
            severity=request.severity if has("severity") else None,
            page=request.page if has("page") else None,
            page_size=request.page_size if has("page_size") else None,
        )
        page = await self._service.list_rules(current_caller(), command)
        return alerting_pb2.ListAlertRulesResponse(
            items=[rule_to_proto(r) for r in page.items], pagination=pagination_message(page)
        )

    async def CountActiveAlerts(
        self, request: alerting_pb2.CountActiveAlertsRequest, context: Context
    ) -> alerting_pb2.CountActiveAlertsResponse:
        count = await self._service.count_active(current_caller(), request.device_id)
        return alerting_pb2.CountActiveAlertsResponse(count=count)

    async def ArchiveResolvedAlerts(
        self, request: alerting_pb2.ArchiveResolvedAlertsRequest, context: Context
    ) -> AsyncIterator[alerting_pb2.ArchiveResolvedAlertsResponse]:
        if self._archive is None:
            raise NotImplementedYet("the archiving cleanup is not served by this alerting instance")
        current_caller().require(Role.ADMIN, "archive resolved alerts")
        older_than = request.older_than_days if request.HasField("older_than_days") else None
        async for step in self._archive.run(older_than):
            yield alerting_pb2.ArchiveResolvedAlertsResponse(
                progress=jobs_pb2.JobProgress(
                    stage=step.stage, done=step.done, total=step.total, counters=step.counters, finished=step.finished
                )
            )

    async def RaiseSystemAlert(
        self, request: alerting_pb2.RaiseSystemAlertRequest, context: Context
    ) -> alerting_pb2.RaiseSystemAlertResponse:
        raised, alert = await self._service.raise_system_alert(
            current_caller(),
            request.organization_id,
            request.check,
            request.severity,
            request.message,
            request.actual_value,
            request.threshold,
        )
        response = alerting_pb2.RaiseSystemAlertResponse(raised=raised)
        if alert is not None:
            response.alert_id = alert.alert_id
        return response

    async def SummarizeAlerts(
        self, request: alerting_pb2.SummarizeAlertsRequest, context: Context
    ) -> alerting_pb2.SummarizeAlertsResponse:
        if self._summaries is None:
            raise NotImplementedYet("alert summaries are not served by this alerting instance")
        tallies = await self._summaries.summarize(
            current_caller(),
            request.organization_id,
            millis(request.start_time),
            millis(request.end_time),
            tuple(request.device_ids),
        )
        return alerting_pb2.SummarizeAlertsResponse(tallies=[_tally_message(t) for t in tallies])


def _tally_message(tally: AlertTally) -> alerting_pb2.AlertTally:
    return alerting_pb2.AlertTally(
        day=tally.day,
        device_id=tally.device_id,
        device_name=tally.device_name,
        severity=tally.severity,
        status=tally.status,
        count=tally.count,
        resolution_seconds=tally.resolution_seconds,
    )


def list_alerts_command(request: alerting_pb2.ListAlertsRequest) -> ListAlerts:
    has = request.HasField
    return ListAlerts(
        status=request.status if has("status") else None,
        severity=request.severity if has("severity") else None,
        device_id=request.device_id if has("device_id") else None,
        start_ms=millis(request.start_date) if has("start_date") else None,
        end_ms=millis(request.end_date) if has("end_date") else None,
        page=request.page if has("page") else None,
        page_size=request.page_size if has("page_size") else None,
    )


def condition_input(message: alerting_pb2.Condition) -> ConditionInput:
    return ConditionInput(message.metric, message.operator, message.threshold, message.duration, message.kind)


def actions_input(message: alerting_pb2.RuleActions) -> ActionsInput:
    return ActionsInput(tuple(message.notifications), tuple(w.url for w in message.webhooks))


def schedule_input(message: alerting_pb2.Schedule) -> ScheduleInput:
    has = message.HasField
    return ScheduleInput(
        type=message.type,
        days=tuple(message.days),
        start_time=message.start_time if has("start_time") else None,
        end_time=message.end_time if has("end_time") else None,
        timezone=message.timezone if has("timezone") else None,
    )


def create_rule_command(request: alerting_pb2.CreateAlertRuleRequest) -> CreateRule:
    has = request.HasField
    return CreateRule(
        name=request.name,
        description=request.description,
        device_type=request.device_type,
        device_ids=tuple(request.device_ids),
        condition=condition_input(request.condition) if has("condition") else None,
        conditions=tuple(condition_input(c) for c in request.conditions),
        combine=request.combine if has("combine") else None,
        severity=request.severity,
        actions=actions_input(request.actions) if has("actions") else None,
        cooldown_period=request.cooldown_period,
        schedule=schedule_input(request.schedule) if has("schedule") else None,
        enabled=request.enabled if has("enabled") else None,
    )


def update_rule_command(request: alerting_pb2.UpdateAlertRuleRequest) -> UpdateRule:
    """Presence decides: a field absent from the request is left as it is."""
    has = request.HasField
    device_ids = json_format.MessageToDict(request.device_ids) if has("device_ids") else None
    return UpdateRule(
        rule_id=request.rule_id,
        name=request.name if has("name") else None,
        description=request.description if has("description") else None,
        device_type=request.device_type if has("device_type") else None,
        device_ids=tuple(device_ids) if device_ids is not None else None,
        condition=condition_input(request.condition) if has("condition") else None,
        conditions=tuple(condition_input(c) for c in request.conditions),
        combine=request.combine if has("combine") else None,
        severity=request.severity if has("severity") else None,
        actions=actions_input(request.actions) if has("actions") else None,
        cooldown_period=request.cooldown_period if has("cooldown_period") else None,
        schedule=schedule_input(request.schedule) if has("schedule") else None,
        enabled=request.enabled if has("enabled") else None,
    )

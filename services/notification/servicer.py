"""NotificationService over gRPC: requests become use-case calls, results become responses. Nothing else."""

from __future__ import annotations

from typing import Any

import grpc.aio
from iot.notification.v1 import notification_pb2, notification_pb2_grpc

from services.notification.adapters.bus_events import delivery_to_proto
from services.notification.domain.service import DeliveryQueries
from services.runtime.context import current_caller
from services.runtime.messages import pagination_message

Context = grpc.aio.ServicerContext[Any, Any]


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, queries: DeliveryQueries):
        self._queries = queries

    async def ListDeliveries(
        self, request: notification_pb2.ListDeliveriesRequest, context: Context
    ) -> notification_pb2.ListDeliveriesResponse:
        has = request.HasField
        page = await self._queries.list_deliveries(
            current_caller(),
            alert_id=request.alert_id if has("alert_id") else None,
            channel=request.channel if has("channel") else None,
            status=request.status if has("status") else None,
            page=request.page if has("page") else None,
            page_size=request.page_size if has("page_size") else None,
        )
        return notification_pb2.ListDeliveriesResponse(
            items=[delivery_to_proto(d) for d in page.items], pagination=pagination_message(page)
        )

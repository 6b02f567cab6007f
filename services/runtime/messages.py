"""Conversions between kernel values and the shared messages of iot.common.v1, used by every servicer."""

from __future__ import annotations

from typing import Any

from iot.common.v1 import common_pb2

from services.kernel.pagination import Page


def pagination_message(page: Page[Any]) -> common_pb2.Pagination:
    return common_pb2.Pagination(
        page=page.request.page,
        page_size=page.request.page_size,
        total_items=page.total_items,
        total_pages=page.total_pages,
        has_next=page.has_next,
        has_previous=page.has_previous,
    )

"""Page requests and pages, validated the same way by every list endpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.kernel.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, page: int | None, page_size: int | None, *, max_page_size: int = MAX_PAGE_SIZE) -> PageRequest:
        """Apply defaults and refuse values outside the allowed range with a 400 naming the field."""
        page = 1 if page is None else page
        page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if page < 1:
            raise ValidationFailed.of_field("page", f"must be 1 or more, got {page}")
        if not 1 <= page_size <= max_page_size:
            raise ValidationFailed.of_field("pageSize", f"must be between 1 and {max_page_size}, got {page_size}")
        return cls(page, page_size)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    request: PageRequest
    total_items: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total_items / self.request.page_size) if self.total_items else 0

    @property
    def has_next(self) -> bool:
        return self.request.page < self.total_pages

    @property
    def has_previous(self) -> bool:
        return self.request.page > 1

"""Composition root of the notification service.

Not built yet (issue #5): every RPC of the contract answers UNIMPLEMENTED with reason NOT_IMPLEMENTED,
which the gateway shows as 501 in the error format. The service still appears in reflection and health.
"""

from __future__ import annotations

from services.runtime.contract import service_descriptor
from services.runtime.service import BuildContext, BuiltService, unimplemented_registration


async def build(ctx: BuildContext) -> BuiltService:
    return BuiltService("notification", [unimplemented_registration(service_descriptor("notification"))])

"""Running a command's coroutine: on uvloop when present (it comes with uvicorn[standard]).

uvloop costs less per socket operation, which bench/gateway_overhead.py measures;
IOTMON_EVENT_LOOP=asyncio chooses the standard loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    if os.environ.get("IOTMON_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)

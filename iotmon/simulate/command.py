"""`iotmon simulate`: parse the flags, run the simulation on an event loop, print the summary."""

from __future__ import annotations

import argparse
import sys
from typing import TypeVar

from iotmon.loop import run as run_coroutine
from iotmon.simulate.errors import SimulationError
from iotmon.simulate.options import SimulationOptions
from iotmon.simulate.runner import simulate

T = TypeVar("T")
INTERRUPTED = 130


def run_command(args: argparse.Namespace) -> int:
    try:
        options = SimulationOptions.from_args(args)
    except ValueError as error:
        sys.stderr.write(f"iotmon simulate: {error}\n")
        return 2
    try:
        summary = run_coroutine(simulate(options))
    except SimulationError as error:
        sys.stderr.write(f"iotmon simulate: {error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("iotmon simulate: interrupted\n")
        return INTERRUPTED
    sys.stdout.write(summary.render() + "\n")
    if summary.sent and not summary.acknowledged:
        sys.stderr.write("iotmon simulate: nothing was acknowledged\n")
        return 1
    return 0

"""`iotmon simulate`: register simulated devices and send them realistic readings over MQTT, HTTP, gRPC or Kinesis.

See docs/simulator.md. `iotmon.cli` dispatches to add_arguments() and main(). Scripts can drive a run with
`iotmon.simulate.runner.simulate(SimulationOptions(...))` or use ReadingGenerator alone.

Only the options are imported here: every `iotmon` command builds the parser, and the run's modules (httpx,
asyncio, the transports) would slow each of them down.
"""

from __future__ import annotations

import argparse

from iotmon.simulate.generator import Irregularities, ReadingGenerator, TelemetryRecord
from iotmon.simulate.options import SimulationOptions, Via, add_arguments

__all__ = [
    "Irregularities",
    "ReadingGenerator",
    "SimulationOptions",
    "TelemetryRecord",
    "Via",
    "add_arguments",
    "main",
]


def main(args: argparse.Namespace) -> int:
    from iotmon.simulate.command import run_command

    return run_command(args)

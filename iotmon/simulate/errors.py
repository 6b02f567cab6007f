"""The one error `iotmon simulate` stops on: something it cannot work around, said in a sentence."""

from __future__ import annotations


class SimulationError(Exception):
    """A run cannot start or go on (gateway unreachable, token refused, broker or stream missing)."""

"""The scheduled jobs of spec §6: `iotmon job <name>` (command.py) and their schedules under `iotmon up`
(scheduler.py). See docs/jobs.md."""

from iotmon.jobs.command import add_arguments, main

__all__ = ["add_arguments", "main"]

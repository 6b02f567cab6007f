"""The firmware job flags of `iotmon simulate`."""

from __future__ import annotations

import pytest

from iotmon.cli import build_parser
from iotmon.simulate import SimulationOptions, Via


def parse(*argv: str) -> SimulationOptions:
    return SimulationOptions.from_args(build_parser().parse_args(["simulate", *argv]))


def test_mqtt_devices_take_jobs_by_default_and_others_only_when_asked() -> None:
    assert parse().takes_jobs
    assert not parse("--no-firmware-jobs").takes_jobs
    assert not parse("--via", "http").takes_jobs
    assert parse("--via", "http", "--firmware-jobs").takes_jobs


def test_job_flags() -> None:
    options = parse(
        "--devices", "30", "--install-seconds", "8", "--install-failure-rate", "0.2", "--reboot-seconds", "1",
        "--initial-firmware", "v1.4.2", "--silent-devices", "2",
    )  # fmt: skip
    assert (options.install_seconds, options.install_failure_rate, options.reboot_seconds) == (8.0, 0.2, 1.0)
    assert (options.initial_firmware, options.silent_devices, options.via) == ("v1.4.2", 2, Via.MQTT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--install-failure-rate", "1.5"], "--install-failure-rate"),
        (["--install-seconds", "-1"], "--install-seconds"),
        (["--devices", "2", "--silent-devices", "3"], "--silent-devices"),
    ],
)
def test_bad_job_flags_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(*argv)

"""The options of `iotmon simulate`: command-line flags, their defaults from IOTMON_* variables, and checks."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from iotmon.simulate.generator import Irregularities
from iotmon.simulate.models import DEVICE_TYPE, SUPPORTED_DEVICE_TYPES

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_ORG = "org-demo"  # the organization `iotmon up` creates
PREFIX = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_PREFIX_LENGTH = 40


class Via(StrEnum):
    MQTT = "mqtt"
    HTTP = "http"
    GRPC = "grpc"
    KINESIS = "kinesis"


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttUrl:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError(f"--mqtt-url must look like mqtt://host:port, got {url!r}")
        return cls(parts.hostname, parts.port or 1883, parts.username, parts.password)


@dataclass(frozen=True)
class SimulationOptions:
    devices: int
    rate: float  # readings (messages) per second in total; 0 = as fast as the transport takes them
    via: Via
    gateway: str = DEFAULT_GATEWAY
    token: str | None = None
    data_dir: Path | None = None
    org: str = DEFAULT_ORG
    mqtt: MqttUrl = MqttUrl("127.0.0.1", 1883)
    qos: int = 1
    grpc_address: str = field(default_factory=lambda: _default_grpc_address())
    kinesis_stream: str | None = None
    duration: float | None = None
    count: int | None = None
    device_type: str = DEVICE_TYPE
    prefix: str = "sim"
    seed: int | None = None
    irregularities: Irregularities = field(default_factory=Irregularities)
    batch_size: int = 100
    concurrency: int | None = None  # None: 4 HTTP requests, 1 Kinesis call (see requests_in_flight)
    progress_interval: float | None = None  # None: 1 s on a terminal, 5 s otherwise
    # Firmware jobs (docs/device-jobs.md): None = on with --via mqtt, off otherwise.
    firmware_jobs: bool | None = None
    install_seconds: float = 5.0
    install_failure_rate: float = 0.0
    reboot_seconds: float = 2.0
    initial_firmware: str = "v1.0.0"
    silent_devices: int = 0  # the last N devices never answer a job (to watch a timeout)
    jobs_topic_prefix: str = "devices"

    def __post_init__(self) -> None:
        problems = [p for p in self._problems() if p]
        if problems:
            raise ValueError("; ".join(problems))

    def _problems(self) -> list[str]:
        return [
            "--devices must be at least 1" if self.devices < 1 else "",
            "--rate must be 0 (as fast as possible) or more" if self.rate < 0 else "",
            "--qos must be 0 or 1" if self.qos not in (0, 1) else "",
            "--duration must be positive" if self.duration is not None and self.duration <= 0 else "",
            "--count must be at least 1" if self.count is not None and self.count < 1 else "",
            "--batch-size must be 1-500" if not 1 <= self.batch_size <= 500 else "",
            "--concurrency must be 1-64" if not 1 <= self.requests_in_flight <= 64 else "",
            "--kinesis-stream (or IOTMON_KINESIS_STREAM) is required with --via kinesis"
            if self.via is Via.KINESIS and not self.kinesis_stream
            else "",
            f"--device-type must be one of {', '.join(SUPPORTED_DEVICE_TYPES)}"
            if self.device_type not in SUPPORTED_DEVICE_TYPES
            else "",
            f"--prefix must be a slug of at most {MAX_PREFIX_LENGTH} lower-case letters, digits and dashes"
            if len(self.prefix) > MAX_PREFIX_LENGTH or not PREFIX.fullmatch(self.prefix)
            else "",
            "--install-failure-rate must be between 0 and 1" if not 0 <= self.install_failure_rate <= 1 else "",
            "--install-seconds and --reboot-seconds must be 0 or more"
            if self.install_seconds < 0 or self.reboot_seconds < 0
            else "",
            "--silent-devices must be between 0 and --devices" if not 0 <= self.silent_devices <= self.devices else "",
        ]

    @property
    def takes_jobs(self) -> bool:
        """Whether the devices take firmware jobs: MQTT devices do unless told not to."""
        return self.via is Via.MQTT if self.firmware_jobs is None else self.firmware_jobs

    @property
    def requests_in_flight(self) -> int:
        """HTTP: 4 requests at once by default. Kinesis: one put_records call at a time by default, because
        moto, the local stand-in, numbers a shard's records without a lock and concurrent calls overwrite
        each other's records (moto.kinesis.models.Shard.put_record says so); raise it against real Kinesis."""
        if self.concurrency is not None:
            return self.concurrency
        return 1 if self.via is Via.KINESIS else 4

    @property
    def tag(self) -> str:
        """The tag every device of this prefix carries; a later run finds them by it."""
        return f"simulator:{self.prefix}"

    def device_name(self, index: int) -> str:
        return f"{self.prefix}-{index + 1:05d}"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SimulationOptions:
        irregularities = Irregularities(args.out_of_order / 100, args.duplicates / 100, args.anomalies / 100)
        return cls(
            devices=args.devices,
            rate=args.rate,
            via=Via(args.via),
            gateway=args.gateway.rstrip("/"),
            token=args.token,
            data_dir=args.data_dir,
            org=args.org,
            mqtt=MqttUrl.parse(args.mqtt_url),
            qos=args.qos,
            grpc_address=args.grpc_address or _default_grpc_address(),
            kinesis_stream=args.kinesis_stream,
            duration=args.duration,
            count=args.count,
            device_type=args.device_type,
            prefix=args.prefix,
            seed=args.seed,
            irregularities=irregularities,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            progress_interval=args.progress_interval,
            firmware_jobs=args.firmware_jobs,
            install_seconds=args.install_seconds,
            install_failure_rate=args.install_failure_rate,
            reboot_seconds=args.reboot_seconds,
            initial_firmware=args.initial_firmware,
            silent_devices=args.silent_devices,
        )


def _default_grpc_address() -> str:
    """The telemetry service's address as the mesh configures it (IOTMON_TELEMETRY_ADDR or its standard port)."""
    from services.runtime.settings import RuntimeSettings

    return RuntimeSettings().telemetry_addr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Register simulated temperature-sensor-v2 devices and send them realistic readings."
    _add_what(parser.add_argument_group("what to simulate"))
    _add_where(parser.add_argument_group("where to send"))
    _add_jobs(parser.add_argument_group("firmware jobs (docs/device-jobs.md)"))


def _add_what(what: argparse._ArgumentGroup) -> None:
    what.add_argument("--devices", type=int, metavar="N", default=10, help="how many devices (default 10)")
    what.add_argument(
        "--rate", type=float, metavar="R", default=10.0, help="readings/s in total over all devices; 0 = max"
    )
    what.add_argument(
        "--duration", type=float, metavar="S", default=None, help="stop after S seconds (default: Ctrl-C)"
    )
    what.add_argument("--count", type=int, metavar="N", default=None, help="stop after N messages")
    what.add_argument("--device-type", metavar="TYPE", default=DEVICE_TYPE, help=f"device type (default {DEVICE_TYPE})")
    what.add_argument(
        "--prefix", metavar="NAME", default="sim", help="device name prefix; a later run reuses its devices"
    )
    what.add_argument("--seed", type=int, metavar="N", default=None, help="make the readings reproducible")
    what.add_argument("--out-of-order", type=float, default=2.0, metavar="PCT", help="%% sent late (default 2)")
    what.add_argument("--duplicates", type=float, default=1.0, metavar="PCT", help="%% sent twice (default 1)")
    what.add_argument("--anomalies", type=float, default=0.2, metavar="PCT", help="%% with a spike (default 0.2)")


def _add_where(how: argparse._ArgumentGroup) -> None:
    env = os.environ.get
    how.add_argument("--via", choices=[v.value for v in Via], default=Via.MQTT.value, help="transport (default mqtt)")
    how.add_argument(
        "--gateway", metavar="URL", default=env("IOTMON_GATEWAY_URL", DEFAULT_GATEWAY), help="REST gateway URL"
    )
    how.add_argument(
        "--token", metavar="T", default=env("IOTMON_TOKEN"), help="bearer token (default: minted from --data-dir)"
    )
    how.add_argument(
        "--data-dir", type=Path, metavar="DIR", default=None, help="data dir of `iotmon up`, to mint a token"
    )
    how.add_argument(
        "--org", metavar="ORG", default=DEFAULT_ORG, help=f"organization of the minted token (default {DEFAULT_ORG})"
    )
    how.add_argument(
        "--mqtt-url", metavar="URL", default=env("IOTMON_MQTT_URL", DEFAULT_MQTT_URL), help="mqtt://host:port"
    )
    how.add_argument("--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS (default 1)")
    how.add_argument(
        "--grpc-address",
        metavar="HOST:PORT",
        default=None,
        help="telemetry service host:port (default its standard port)",
    )
    how.add_argument(
        "--kinesis-stream", metavar="NAME", default=env("IOTMON_KINESIS_STREAM"), help="Kinesis stream name"
    )
    how.add_argument("--batch-size", type=int, metavar="N", default=100, help="records per HTTP request (default 100)")
    how.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        default=None,
        help="requests in flight (default: HTTP 4, Kinesis 1, see docs)",
    )
    how.add_argument(
        "--progress-interval", type=float, metavar="S", default=None, help="seconds between progress lines"
    )


def _add_jobs(jobs: argparse._ArgumentGroup) -> None:
    jobs.add_argument(
        "--firmware-jobs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="devices take firmware jobs (default: on with --via mqtt; other transports poll over HTTP)",
    )
    jobs.add_argument("--install-seconds", type=float, metavar="S", default=5.0, help="mean install time (default 5)")
    jobs.add_argument(
        "--install-failure-rate", type=float, metavar="P", default=0.0, help="chance 0..1 an install fails (default 0)"
    )
    jobs.add_argument(
        "--reboot-seconds", type=float, metavar="S", default=2.0, help="silent after installing (default 2)"
    )
    jobs.add_argument("--initial-firmware", metavar="V", default="v1.0.0", help="version devices start with")
    jobs.add_argument(
        "--silent-devices", type=int, metavar="N", default=0, help="the last N devices never answer a job (default 0)"
    )

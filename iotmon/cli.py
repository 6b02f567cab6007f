"""`iotmon` — run the IoT monitoring mesh.

iotmon up      start every service and the gateway in one process, embedded backends, no server needed
iotmon serve   run one service (or the gateway) alone: the container entrypoint
iotmon token   print a signed development token that a running `iotmon up` accepts
iotmon firmware pack|upload   make a firmware image, upload one
iotmon job     run a scheduled job now: archival, cleanup, health-check, usage-report
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from iotmon.loop import run as run_coroutine
from services.runtime.settings import DEFAULT_PORTS, SERVICE_NAMES, RuntimeSettings

GATEWAY = "gateway"
ROLES = ("viewer", "operator", "admin")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="where embedded backends keep their files (env IOTMON_DATA_DIR; default .iotmon)"
    )


def _settings(args: argparse.Namespace) -> RuntimeSettings:
    """Flags win over IOTMON_* variables; the data directory is exported so every settings class sees it."""
    if getattr(args, "data_dir", None):
        os.environ["IOTMON_DATA_DIR"] = str(args.data_dir.resolve())
    if getattr(args, "host", None):
        os.environ["IOTMON_HOST"] = args.host
    settings = RuntimeSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iotmon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    up = commands.add_parser("up", help="start every service and the gateway in one process")
    up.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8080, help="gateway port; 0 picks free ports for everything")
    _add_data_dir(up)
    up.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default WARNING for up)")
    up.add_argument(
        "--without",
        action="append",
        default=[],
        choices=SERVICE_NAMES,
        metavar="SERVICE",
        help="leave a service out (run it with `iotmon serve`, e.g. under a debugger); repeatable; "
        "the others reach it at IOTMON_<SERVICE>_ADDR",
    )
    up.add_argument("--no-jobs", action="store_true", help="do not run the scheduled jobs (IOTMON_JOBS_SCHEDULE)")

    serve = commands.add_parser("serve", help="run one service or the gateway alone (container entrypoint)")
    serve.add_argument("service", choices=[*SERVICE_NAMES, GATEWAY])
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None, help="default: the service's standard port")
    _add_data_dir(serve)
    serve.add_argument("--log-level", default=None)

    token = commands.add_parser("token", help="print a signed development token for `iotmon up`")
    token.add_argument("--org", required=True, help="organization id, e.g. org-demo")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--user", default="dev-user", help="user id (sub claim)")
    token.add_argument("--email", default=None)
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    _add_data_dir(token)

    # Each module below adds its own options and runs the command (iotmon/simulate, iotmon/dlq.py).
    simulate = commands.add_parser("simulate", help="register simulated devices and send realistic readings")
    dlq = commands.add_parser("dlq", help="list or replay telemetry dead letters")
    firmware = commands.add_parser("firmware", help="pack firmware images and upload them")
    job = commands.add_parser("job", help="run a scheduled job now: archival, cleanup, health-check, usage-report")
    for name, sub in (("simulate", simulate), ("dlq", dlq), ("firmware_cmd", firmware), ("jobs", job)):
        module = _load_command(name)
        if module is not None:
            module.add_arguments(sub)
    return parser


def _load_command(name: str) -> Any:
    """A command module, or None while it is not built yet (the command then says so)."""
    import importlib

    try:
        return importlib.import_module(f"iotmon.{name}")
    except ModuleNotFoundError as missing:
        if missing.name != f"iotmon.{name}":
            raise
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "token":
        return _token(args)
    if args.command in ("simulate", "dlq", "firmware", "job"):
        module = _load_command({"firmware": "firmware_cmd", "job": "jobs"}.get(args.command, args.command))
        if module is None:
            sys.stderr.write(f"iotmon {args.command} is not available in this build\n")
            return 2
        return int(module.main(args))
    from iotmon import run

    if args.command == "up":
        if args.no_jobs:
            os.environ["IOTMON_JOBS_SCHEDULE"] = "false"
        return run_coroutine(run.up(_settings(args), args.port, args.log_level or "WARNING", without=args.without))
    port = args.port if args.port is not None else (8080 if args.service == GATEWAY else DEFAULT_PORTS[args.service])
    return run_coroutine(run.serve(_settings(args), args.service, port, args.log_level or "INFO"))


def _token(args: argparse.Namespace) -> int:
    from services.identity.bootstrap import mint_local_token

    settings = _settings(args)
    token = mint_local_token(
        settings, organization_id=args.org, role=args.role, user_id=args.user, email=args.email, ttl_seconds=args.ttl
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`iotmon dlq list|replay`: look at the telemetry dead letters, or run them through the pipeline again.

It calls the telemetry service over gRPC as a service principal, so it sees every organization's letters:
with the data directory's signing key (what `iotmon up` uses; --data-dir) or with a mounted service token
(IOTMON_SERVICE_TOKEN_FILE, in a cluster).

    iotmon dlq list   [--device ID] [--reason R] [--limit N] [--data-dir DIR] [--address host:port]
    iotmon dlq replay [--device ID] [--reason R] [--limit N] [--data-dir DIR] [--address host:port]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

import grpc
import grpc.aio
from google.protobuf import json_format
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.runtime.clients import open_channel
from services.runtime.keys import KEY_FILE_NAME
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings

PRINCIPAL = "iotmon-cli"
PAGE_SIZE = 100
RECORD_WIDTH = 160
TIMEOUT_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "replay"], help="list (newest first) or replay (oldest first)")
    parser.add_argument("--device", default=None, help="only this device's letters")
    parser.add_argument("--reason", default=None, help="only letters refused for this reason, e.g. UNKNOWN_DEVICE")
    parser.add_argument("--limit", type=int, default=None, help="at most this many (list: 20, replay: 1000)")
    parser.add_argument("--data-dir", type=Path, default=None, help="the data directory of `iotmon up` (its key)")
    parser.add_argument("--address", default=None, help="the telemetry service (default IOTMON_TELEMETRY_ADDR)")


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.data_dir:
        os.environ["IOTMON_DATA_DIR"] = str(args.data_dir.resolve())
    settings = RuntimeSettings()
    address = args.address or settings.telemetry_addr
    key = settings.keys_dir / KEY_FILE_NAME
    if settings.service_token_file is None and not key.exists():
        sys.stderr.write(f"iotmon dlq: no signing key at {key}; pass --data-dir or set IOTMON_SERVICE_TOKEN_FILE\n")
        return 2
    try:
        return asyncio.run(_run(args, settings, address, out))
    except grpc.aio.AioRpcError as error:
        sys.stderr.write(f"iotmon dlq: {_explain(error, address)}\n")
        return 1


async def _run(args: argparse.Namespace, settings: RuntimeSettings, address: str, out: TextIO) -> int:
    async with open_channel(address, service_tokens=ServiceTokens(settings, PRINCIPAL)) as channel:
        stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        if args.action == "list":
            await _list(stub, args, out)
        else:
            await _replay(stub, args, out)
    return 0


async def _list(stub: telemetry_pb2_grpc.TelemetryServiceAsyncStub, args: argparse.Namespace, out: TextIO) -> None:
    limit = args.limit or 20
    letters: list[telemetry_pb2.DeadLetter] = []
    total, page = 0, 1
    while len(letters) < limit:
        request = telemetry_pb2.ListDeadLettersRequest(
            device_id=args.device, reason=args.reason, page=page, page_size=min(PAGE_SIZE, limit)
        )
        reply = await stub.ListDeadLetters(request, timeout=TIMEOUT_SECONDS)
        letters.extend(reply.items[: limit - len(letters)])
        total = reply.pagination.total_items
        if not reply.pagination.has_next:
            break
        page += 1
    out.write(f"{len(letters)} of {total} dead letters, newest first\n")
    for letter in letters:
        out.write(_letter_line(letter))


async def _replay(stub: telemetry_pb2_grpc.TelemetryServiceAsyncStub, args: argparse.Namespace, out: TextIO) -> None:
    request = telemetry_pb2.ReplayDeadLettersRequest(device_id=args.device, reason=args.reason, limit=args.limit)
    reply = await stub.ReplayDeadLetters(request, timeout=TIMEOUT_SECONDS)
    out.write(
        f"replayed {reply.replayed} dead letters: {reply.accepted} accepted, "
        f"{reply.still_failing} still failing (kept, with the reason they fail for now)\n"
    )


def _letter_line(letter: telemetry_pb2.DeadLetter) -> str:
    record = json_format.MessageToJson(letter.record, indent=None)
    if len(record) > RECORD_WIDTH:
        record = record[: RECORD_WIDTH - 1] + "…"
    device = letter.device_id if letter.HasField("device_id") else "-"
    received = letter.received_at.ToJsonString()
    return f"{received}  {letter.reason:<19} {device:<18} {letter.source:<7} {letter.message}\n    {record}\n"


def _explain(error: grpc.aio.AioRpcError, address: str) -> str:
    code = error.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return f"no telemetry service answers at {address} (pass --address host:port from the `iotmon up` banner)"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (
            "the telemetry service refused the service token: pass the --data-dir that `iotmon up` uses, "
            "or set IOTMON_SERVICE_TOKEN_FILE"
        )
    return f"{code.name}: {error.details()}"

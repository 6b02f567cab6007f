"""`iotmon firmware` — make firmware images and upload them.

iotmon firmware pack --version V --device-type T [--device-type T2 …] --in BINARY --out IMAGE
    write an image in the iotmon format (docs/firmware.md): header (magic, version, device types, payload
    length and SHA-256, CRC-32) followed by the binary, streamed (any size, little memory)
iotmon firmware upload --version V --device-type T [--notes TEXT] IMAGE
    POST /firmware/upload, then the image to the returned uploadUrl as a multipart/form-data POST of every
    field plus a `file` part — the same client code for the embedded store and for S3 — and, with --wait,
    follow the firmware until it is validated or rejected
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.firmware.domain.catalog.image import pack_header

CHUNK = 1024 * 1024
FINAL_STATUSES = ("validated", "rejected")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="firmware_command", required=True, metavar="command")
    pack = commands.add_parser("pack", help="write a firmware image from a binary")
    pack.add_argument("--version", required=True, help="firmware version, e.g. v2.1.0")
    pack.add_argument(
        "--device-type", dest="device_types", action="append", required=True, help="compatible device type; repeatable"
    )
    pack.add_argument("--in", dest="input", type=Path, required=True, help="the binary payload")
    pack.add_argument("--out", dest="output", type=Path, required=True, help="the image to write")

    upload = commands.add_parser("upload", help="upload an image through the API (admin token)")
    upload.add_argument("image", type=Path)
    upload.add_argument("--version", required=True)
    upload.add_argument("--device-type", dest="device_types", action="append", required=True)
    upload.add_argument("--notes", default="", help="release notes")
    upload.add_argument("--url", default=os.environ.get("IOTMON_URL", "http://127.0.0.1:8080"), help="gateway URL")
    upload.add_argument("--token", default=os.environ.get("IOTMON_TOKEN"), help="bearer token (env IOTMON_TOKEN)")
    upload.add_argument("--wait", type=float, default=0, help="seconds to wait for validation (0: do not wait)")


def main(args: argparse.Namespace) -> int:
    if args.firmware_command == "pack":
        size = pack_file(args.input, args.output, args.version, args.device_types)
        sys.stdout.write(f"{args.output}: {args.version} for {', '.join(args.device_types)}, {size} payload bytes\n")
        return 0
    return _upload(args)


def pack_file(source: Path, destination: Path, version: str, device_types: list[str]) -> int:
    """Hash the binary, then write header + binary to a temporary file renamed into place; the payload size."""
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as binary:
        while chunk := binary.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    header = pack_header(version, device_types, size, digest.digest())
    temporary = destination.with_name(f".{destination.name}.partial")
    with source.open("rb") as binary, temporary.open("wb") as image:
        image.write(header)
        while chunk := binary.read(CHUNK):
            image.write(chunk)
    os.replace(temporary, destination)
    return size


def upload_image(upload_url: str, fields: dict[str, str], image: Path, *, timeout: float = 300) -> httpx.Response:
    """The direct upload, as S3 presigned POST wants it: every field, then the file part last (streamed)."""
    with image.open("rb") as file:
        files = {"file": (image.name, file, "application/octet-stream")}
        return httpx.post(upload_url, data=fields, files=files, timeout=timeout)


def _upload(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as api:
        body: dict[str, Any] = {"version": args.version, "deviceTypes": args.device_types}
        if args.notes:
            body["releaseNotes"] = args.notes
        created = api.post("/firmware/upload", json=body)
        if created.status_code != 201:
            sys.stderr.write(f"POST /firmware/upload: {created.status_code} {created.text}\n")
            return 1
        ticket = created.json()
        uploaded = upload_image(ticket["uploadUrl"], ticket["fields"], args.image)
        if uploaded.status_code >= 300:
            sys.stderr.write(f"upload: {uploaded.status_code} {uploaded.text}\n")
            return 1
        sys.stdout.write(f"{ticket['firmwareId']} uploaded\n")
        if args.wait <= 0:
            return 0
        return _wait(api, ticket["firmwareId"], args.wait)


def _wait(api: httpx.Client, firmware_id: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        firmware = api.get(f"/firmware/{firmware_id}").json()
        if firmware.get("status") in FINAL_STATUSES:
            detail = firmware.get("checksum") or firmware.get("rejectionReason", "")
            sys.stdout.write(f"{firmware_id} {firmware['status']} {detail}\n")
            return 0 if firmware["status"] == "validated" else 1
        time.sleep(0.5)
    sys.stderr.write(f"{firmware_id} still not processed after {seconds} s\n")
    return 1

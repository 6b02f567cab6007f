"""WebSocket fan-out: messages/s delivered by the /ws hub against a bare Starlette broadcast loop.

Both servers run as subprocesses under uvicorn (uvloop, as `iotmon up`) on 127.0.0.1, with 1,000 clients in
another process that all watch the same device, so every event goes to every client:
  1. bare — a Starlette WebSocket endpoint; the broadcast encodes each event once (orjson) and awaits
     `send_text` to every client in turn (the ceiling of any Python fan-out on uvicorn);
  2. hub — the gateway app from create_app: clients authenticate with a JWT, subscribe (checked with a
     device service over gRPC), and events are published on the in-process bus as telemetry would.
Clients count text frames from first to last; prints messages/s of each and the ratio (target ≥ 0.5).
Publishing yields to the loop every `--burst` events in both, as a bus consumer would between deliveries.

    python bench/ws_fanout.py [--clients 1000] [--events 150] [--burst 16]

ws_memory.py reuses the servers and clients defined here (`serve` and `clients` are internal commands).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen"), str(ROOT / "bench")]
from _harness import free_port, process, wait_for_port  # noqa: E402

ORG = "org-bench"
DEVICE = "dev-shared"
TOKENS = 50  # distinct users; connections share them round-robin
CONNECT_BATCH = 100
VALUES = {"temperature": 22.5, "humidity": 45.0, "pressure": 1013.2}


# -- servers (run in their own process)


def serve(kind: str, port: int, keys: Path) -> None:
    import uvicorn
    import uvloop

    async def main() -> None:
        app, publish = await (_hub_app(keys) if kind == "hub" else _bare_app())
        config = uvicorn.Config(
            _with_control(app, publish),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            lifespan="on",
        )
        await uvicorn.Server(config).serve()

    uvloop.run(main())


Publish = Callable[[int], Awaitable[None]]


def _with_control(app: Any, publish: Publish) -> Any:
    """The app, plus POST /bench/publish?events=N&burst=K which starts publishing and answers at once."""
    running: set[asyncio.Task[None]] = set()

    async def publish_all(events: int, burst: int) -> None:
        for i in range(events):
            await publish(i)
            if (i + 1) % burst == 0:
                await asyncio.sleep(0)

    async def control(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/publish":
            query = dict(p.split("=") for p in scope["query_string"].decode().split("&"))
            task = asyncio.create_task(publish_all(int(query["events"]), int(query["burst"])))
            running.add(task)
            task.add_done_callback(running.discard)
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return control


def _reading_payload(i: int) -> dict[str, Any]:
    """The message the hub renders for one reading (gateway/ws/messages.py), so both send the same bytes."""
    return {
        "type": "reading",
        "deviceId": DEVICE,
        "timestamp": f"2025-11-15T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "data": VALUES,
        "anomalies": [],
    }


async def _bare_app() -> tuple[Any, Publish]:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    clients: set[WebSocket] = set()

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        clients.add(ws)
        try:
            while True:
                await ws.receive_text()
                await ws.send_text('{"type":"subscribed"}')
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(ws)

    async def publish(i: int) -> None:
        text = orjson.dumps(_reading_payload(i)).decode()
        for ws in tuple(clients):
            await ws.send_text(text)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)]), publish


async def _hub_app(keys: Path) -> tuple[Any, Publish]:
    from datetime import UTC, datetime

    from iot.common.v1 import common_pb2
    from iot.device.v1 import device_pb2, device_pb2_grpc
    from iot.telemetry.v1 import events_pb2 as telemetry_events

    from gateway.app import create_app
    from services.runtime.auth import FileJwks, ServiceIssuer, TokenVerifier
    from services.runtime.bus import InProcessBus
    from services.runtime.server import ServiceRegistration, start_grpc_server
    from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
    from tests.support.tokens import AUDIENCE, ISSUER, SERVICE_AUDIENCE, SERVICE_ISSUER

    class Devices(device_pb2_grpc.DeviceServiceServicer):
        async def BatchGetDevices(self, request: Any, context: Any) -> Any:
            return device_pb2.BatchGetDevicesResponse(
                devices=[device_pb2.Device(device_id=i, organization_id=ORG) for i in request.device_ids]
            )

    jwks = keys / "jwks.json"
    service = ServiceIssuer(FileJwks(jwks), SERVICE_ISSUER, SERVICE_AUDIENCE)
    verifier = TokenVerifier(FileJwks(jwks), issuer=ISSUER, audience=AUDIENCE, service=service)
    registration = ServiceRegistration(
        device_pb2.DESCRIPTOR.services_by_name["DeviceService"],
        device_pb2_grpc.add_DeviceServiceServicer_to_server,
        Devices(),
    )
    device_server = await start_grpc_server([registration], host="127.0.0.1", port=0, verifier=verifier)
    bus = InProcessBus()
    app = create_app(
        RuntimeSettings(service_token_file=keys / "service-gateway.token", data_dir=keys),
        verifier=verifier,
        addresses=dict.fromkeys(SERVICE_NAMES, device_server.address),
        bus=bus,
    )
    app.state.device_server = device_server  # keep it referenced: a collected grpc server stops
    taken_at = datetime(2025, 11, 15, 10, tzinfo=UTC)

    async def publish(i: int) -> None:
        event = telemetry_events.ReadingsStored(meta=common_pb2.EventMeta(organization_id=ORG))
        reading = event.readings.add(device_id=DEVICE, values=VALUES)
        reading.timestamp.FromDatetime(taken_at)
        reading.timestamp.seconds += i
        await bus.publish("telemetry.readings_stored", event)

    return app, publish


# -- clients (run in their own process): raw sockets that count frames


class _Totals:
    def __init__(self) -> None:
        self.ready = 0
        self.wanted = 0
        self.all_ready = asyncio.Event()
        self.received = 0
        self.closed = 0
        self.first = 0.0
        self.last = 0.0


class _Client(asyncio.Protocol):
    """A minimal WebSocket client (asyncio.Protocol): handshake, one subscribe, then counts text frames."""

    def __init__(self, request: bytes, subscribe: bytes, totals: _Totals):
        self._request = request
        self._subscribe = subscribe
        self._totals = totals
        self._buffer = bytearray()
        self._upgraded = False
        self._ready = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"handshake refused: {bytes(buffer[:200])!r}")
            del buffer[: end + 4]
            self._upgraded = True
            assert self.transport is not None
            self.transport.write(self._subscribe)
        offset, texts, size = 0, 0, len(buffer)
        while size - offset >= 2:
            length, start = buffer[offset + 1] & 0x7F, offset + 2
            if length == 126:
                length, start = int.from_bytes(buffer[start : start + 2]), start + 2
            elif length == 127:
                length, start = int.from_bytes(buffer[start : start + 8]), start + 8
            if start + length > size:
                break
            opcode = buffer[offset] & 0x0F
            if opcode == 1:
                texts += 1
            elif opcode == 8:
                self._totals.closed += 1
            offset = start + length
        del buffer[:offset]
        if texts and not self._ready:
            self._ready, texts = True, texts - 1  # the first text is the subscribe confirmation
            self._totals.ready += 1
            if self._totals.ready >= self._totals.wanted:
                self._totals.all_ready.set()
        if texts:
            totals = self._totals
            now = time.perf_counter()
            if not totals.first:
                totals.first = now
            totals.received += texts
            totals.last = now


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload  # a zero mask leaves the payload as is


def _request(port: int, token: str, deflate: bool) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET /ws?token={token} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:  # what browsers offer
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run_clients(port: int, count: int, tokens_file: Path, deflate: bool) -> None:
    """Open `count` connections and print "ready" once all are subscribed. Then, for each line on stdin
    ("round <texts expected in total>"): print "armed", count until the total arrives (or nothing came for
    10 s), and print that round's totals as JSON. Stdin closing ends the process."""
    import uvloop

    tokens = tokens_file.read_text().split()
    subscribe = _masked_text(json.dumps({"action": "subscribe", "deviceIds": [DEVICE]}))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        totals = _Totals()
        transports: list[asyncio.BaseTransport] = []
        for batch in range(0, count, CONNECT_BATCH):
            made = await asyncio.gather(
                *(
                    loop.create_connection(
                        lambda i=i: _Client(_request(port, tokens[i % len(tokens)], deflate), subscribe, totals),
                        "127.0.0.1",
                        port,
                    )
                    for i in range(batch, min(batch + CONNECT_BATCH, count))
                )
            )
            transports.extend(t for t, _ in made)
            totals.wanted = len(transports)
            if totals.ready < totals.wanted:
                await totals.all_ready.wait()
                totals.all_ready.clear()
        print("ready", flush=True)
        while command := await loop.run_in_executor(None, sys.stdin.readline):
            expect = int(command.split()[1])
            start_count, totals.first = totals.received, 0.0
            print("armed", flush=True)
            seen, quiet_since = -1, time.perf_counter()
            while totals.received < expect and time.perf_counter() - quiet_since < 10:
                await asyncio.sleep(0.02)
                if totals.received != seen:
                    seen, quiet_since = totals.received, time.perf_counter()
            received = totals.received - start_count
            print(json.dumps({"received": received, "seconds": totals.last - totals.first, "closed": totals.closed}))
            sys.stdout.flush()
        for transport in transports:
            transport.close()

    uvloop.run(main())


# -- the driver


def prepare_keys(directory: Path) -> Path:
    """Signing keys, a service token for the gateway and user tokens for the clients (one per line)."""
    from tests.support.tokens import TokenMinter

    minter = TokenMinter.create(directory)
    (directory / "service-gateway.token").write_text(minter.mint_service("gateway"))
    tokens = directory / "users.tokens"
    tokens.write_text("\n".join(minter.mint(org=ORG, role="viewer", user=f"user-{i}") for i in range(TOKENS)))
    return tokens


@contextmanager
def server(kind: str, keys: Path) -> Iterator[tuple[int, int]]:
    """A bench server process: (port, pid)."""
    port = free_port()
    args = [sys.executable, __file__, "serve", kind, "--port", str(port), "--keys", str(keys)]
    with process(args, cwd=ROOT) as proc:
        wait_for_port(port)
        yield port, proc.pid


class Crowd:
    """The clients' process, driven line by line."""

    def __init__(self, proc: subprocess.Popen[str]):
        assert proc.stdin is not None
        assert proc.stdout is not None
        self._stdin, self._stdout = proc.stdin, proc.stdout
        self.received = 0

    def expect(self, line: str) -> None:
        got = self._stdout.readline().strip()
        if got != line:
            raise RuntimeError(f"the clients said {got!r}, not {line!r}")

    def round(self, start: Callable[[], object], texts: int) -> dict[str, float]:
        self.received += texts
        self._stdin.write(f"round {self.received}\n")
        self._stdin.flush()
        self.expect("armed")
        start()
        result: dict[str, float] = json.loads(self._stdout.readline())
        return result


@contextmanager
def clients(port: int, count: int, tokens: Path, *, deflate: bool = False) -> Iterator[Crowd]:
    args = [sys.executable, __file__, "clients", "--port", str(port), "--count", str(count), "--tokens", str(tokens)]
    args += ["--deflate"] * deflate
    with process(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        crowd = Crowd(proc)
        crowd.expect("ready")
        try:
            yield crowd
        finally:
            assert proc.stdin is not None
            proc.stdin.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(port: int, pid: int, crowd: Crowd, clients: int, events: int, burst: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/bench/publish?events={events}&burst={burst}"
    cpu_before = cpu_seconds(pid)
    result = crowd.round(lambda: httpx.post(url).raise_for_status(), clients * events)
    result["cpu"] = cpu_seconds(pid) - cpu_before
    result["rate"] = result["received"] / result["seconds"] if result["seconds"] else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    srv = commands.add_parser("serve")
    srv.add_argument("kind", choices=["bare", "hub"])
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--keys", type=Path, required=True)
    cli = commands.add_parser("clients")
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--count", type=int, required=True)
    cli.add_argument("--tokens", type=Path, required=True)
    cli.add_argument("--deflate", action="store_true")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--burst", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deflate", action="store_true", help="clients offer permessage-deflate, as browsers do")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.kind, args.port, args.keys)
        return
    if args.command == "clients":
        run_clients(args.port, args.count, args.tokens, args.deflate)
        return

    kinds = ("bare", "hub")
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        tokens = prepare_keys(Path(tmp))
        running = {}
        for kind in kinds:
            port, pid = stack.enter_context(server(kind, Path(tmp)))
            crowd = stack.enter_context(clients(port, args.clients, tokens, deflate=args.deflate))
            running[kind] = (port, pid, crowd)
        # Rounds alternate (and alternate who goes first), so both see the same share of a busy machine.
        for i in range(args.rounds):
            for kind in kinds if i % 2 == 0 else kinds[::-1]:
                port, pid, crowd = running[kind]
                results[kind].append(one_round(port, pid, crowd, args.clients, args.events, args.burst))

    expected = args.clients * args.events
    compression = ", permessage-deflate" if args.deflate else ""
    print(
        f"{args.clients} clients, {args.events} events per round each to every client, bursts of {args.burst}"
        f"{compression}"
    )
    best = {}
    for kind in kinds:
        rounds = results[kind]
        best[kind] = max(rounds, key=lambda r: r["rate"])
        rates = ", ".join(f"{r['rate']:,.0f}" for r in rounds)
        cpu_us = min(r["cpu"] / r["received"] * 1e6 for r in rounds if r["received"])
        lost = sum(expected - r["received"] for r in rounds)
        closed = max(r["closed"] for r in rounds)
        print(
            f"  {kind:5} best {best[kind]['rate']:>8,.0f} msg/s  (rounds: {rates}; server CPU {cpu_us:.1f} µs/msg; "
            f"{lost} lost, {closed:.0f} closed)"
        )
    cpu = {k: min(r["cpu"] / r["received"] for r in results[k] if r["received"]) for k in kinds}
    print(
        f"  hub / bare = {best['hub']['rate'] / best['bare']['rate']:.2f} msg/s (target ≥ 0.5); "
        f"by server CPU per message {cpu['bare'] / cpu['hub']:.2f}"
    )


if __name__ == "__main__":
    main()

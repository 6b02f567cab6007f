"""Baseline servers and clients for the benchmarks, run as separate processes.

python bench/_baselines.py starlette --port P --body-file F   bare Starlette handler returning F's JSON
python bench/_baselines.py grpc-echo --port P                 bare grpc.aio unary echo (bytes in, bytes out)
python bench/_baselines.py grpc-load --target H:P --seconds S --concurrency C   prints calls/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

ECHO_METHOD = "/bench.Echo/Echo"


def run_starlette(port: int, body_file: Path) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    document = json.loads(body_file.read_text())

    async def device(request: Request) -> JSONResponse:
        return JSONResponse(document)

    app = Starlette(routes=[Route("/devices/{device_id}", device)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _echo_server(port: int) -> None:
    import grpc

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler("bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def _echo_load(target: str, seconds: float, concurrency: int) -> None:
    import grpc

    payload = b"x" * 600  # about the size of a serialized Device
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(ECHO_METHOD)
        for _ in range(200):
            await call(payload)
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await call(payload)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(f"{done / (time.perf_counter() - started):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["starlette", "grpc-echo", "grpc-load"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--body-file", type=Path)
    parser.add_argument("--target")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if args.mode == "starlette":
        run_starlette(args.port, args.body_file)
    elif args.mode == "grpc-echo":
        asyncio.run(_echo_server(args.port))
    else:
        asyncio.run(_echo_load(args.target, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()

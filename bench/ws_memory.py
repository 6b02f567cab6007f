"""WebSocket memory: server RSS per idle connection of the /ws hub against a bare Starlette WebSocket endpoint.

The servers and clients of ws_fanout.py, as subprocesses on 127.0.0.1: the bare endpoint accepts and waits
for messages (it answers the subscribe); each hub connection is authenticated (JWT) and subscribed to a
device (checked with a device service over gRPC). RSS (/proc/<pid>/status VmRSS) is read after a warm-up
of 50 connections and again after 1,000 more; the difference over 1,000 is the cost of one connection.
Measured twice: without compression, and with permessage-deflate offered as browsers do (uvicorn accepts
it by default, and its zlib state is most of a connection's memory). Prints KiB per connection and the
ratio (target ≤ 1.2).

    python bench/ws_memory.py [--connections 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ws_fanout import clients, prepare_keys, server

WARM_UP = 50


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def settled_rss(pid: int) -> int:
    """RSS once it stopped moving (the server finishes handshakes and subscribes after the clients do)."""
    previous = -1
    while (current := rss_kib(pid)) != previous:
        previous = current
        time.sleep(0.3)
    return current


def per_connection(kind: str, keys: Path, tokens: Path, connections: int, deflate: bool) -> float:
    with server(kind, keys) as (port, pid), clients(port, WARM_UP, tokens, deflate=deflate):
        before = settled_rss(pid)
        with clients(port, connections, tokens, deflate=deflate):
            after = settled_rss(pid)
    return (after - before) / connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp)
        tokens = prepare_keys(keys)
        print(f"server RSS per idle connection, {args.connections} connections after {WARM_UP} to warm up")
        for deflate in (False, True):
            bare = per_connection("bare", keys, tokens, args.connections, deflate)
            hub = per_connection("hub", keys, tokens, args.connections, deflate)
            label = "permessage-deflate" if deflate else "no compression    "
            ratio = f"hub / bare = {hub / bare:.2f}  (target ≤ 1.2)"
            print(f"  {label}  bare {bare:5.1f} KiB   hub {hub:5.1f} KiB   {ratio}")


if __name__ == "__main__":
    main()

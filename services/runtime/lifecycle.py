"""Run until SIGINT/SIGTERM, then drain: the behaviour Kubernetes and `iotmon up` both rely on."""

from __future__ import annotations

import asyncio
import signal

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def watch_shutdown_signals() -> asyncio.Future[signal.Signals]:
    """Catch SIGINT/SIGTERM from now on; the future holds the first one received.

    Install it before telling anyone the process is ready: a signal that arrives between "ready" and the
    handler would otherwise kill the process without a drain.
    """
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def on_signal(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    def restore(_: object) -> None:
        for sig in SHUTDOWN_SIGNALS:
            loop.remove_signal_handler(sig)

    received.add_done_callback(restore)
    return received

"""One simulation run: a token, the devices, then readings pumped at the requested rate until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

import httpx

from iotmon.simulate.generator import ReadingGenerator
from iotmon.simulate.jobs import StampedTransport, open_fleet
from iotmon.simulate.options import SimulationOptions
from iotmon.simulate.progress import Progress
from iotmon.simulate.registration import ensure_devices
from iotmon.simulate.stats import Counters, Summary
from iotmon.simulate.transports import Transport, open_transport

DRAIN_TIMEOUT = 10.0  # seconds to wait for the last acknowledgements
MIN_TICK = 0.005  # the pump sleeps at least this long, so high rates go out in slices, not one by one
MAX_TICK = 0.2  # and at most this long, so a stop is noticed quickly at low rates
MAX_BACKLOG = 1.0  # seconds of readings to catch up after a stall; older ones are skipped, not burst
MAX_PER_DEVICE = 1_000  # readings/s: a device's timestamps are distinct milliseconds
TOKEN_TTL = 24 * 3600
ROLE = "operator"


def resolve_token(options: SimulationOptions) -> str:
    """The given token, or one minted like `iotmon token` from the data directory's signing key."""
    if options.token:
        return options.token
    from services.identity.bootstrap import mint_local_token
    from services.runtime.settings import RuntimeSettings

    settings = RuntimeSettings(data_dir=options.data_dir) if options.data_dir else RuntimeSettings()
    return mint_local_token(
        settings, organization_id=options.org, role=ROLE, user_id="simulator", email=None, ttl_seconds=TOKEN_TTL
    )


async def simulate(
    options: SimulationOptions, *, out: TextIO | None = None, stop: asyncio.Event | None = None
) -> Summary:
    """Register (or reuse) the devices, send readings until the duration, the count or `stop`, and summarise."""
    stop = stop or asyncio.Event()
    counters = Counters()
    progress = Progress(counters, out or sys.stderr, options.progress_interval)
    token = resolve_token(options)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=options.gateway, headers=headers, timeout=60.0) as api:
        device_ids = await ensure_devices(api, options, progress.say)
    generator = ReadingGenerator(device_ids, seed=options.seed, irregularities=options.irregularities)
    rate = f"{options.rate:,.0f} readings/s" if options.rate else "as fast as possible"
    progress.say(f"sending {rate} from {len(device_ids)} devices via {options.via} (Ctrl-C stops)")
    if options.rate > MAX_PER_DEVICE * len(device_ids):
        progress.say(
            f"note: over {MAX_PER_DEVICE} readings/s per device, timestamps (one per device per millisecond) run "
            "ahead of the clock and the service will refuse them as TIMESTAMP_IN_FUTURE: add devices"
        )
    async with open_transport(options, token, counters) as opened, open_fleet(options, device_ids, token) as fleet:
        transport: Transport = opened
        if fleet is not None:  # readings carry each device's firmware version; the progress line shows the jobs
            transport = StampedTransport(opened, fleet)
            progress.extra = fleet.counts.line
            taking = len(device_ids) - options.silent_devices
            progress.say(f"{taking} devices take firmware jobs on {options.initial_firmware}")
        started = time.monotonic()
        restore_signals = _stop_on_signals(stop)
        progress.start()
        reporter = asyncio.create_task(progress.run())
        try:
            await pump(generator, transport, counters, options, stop)
            leftovers = generator.release_held()
            if leftovers:
                await transport.send(leftovers)
                counters.sent += len(leftovers)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await transport.drain()
        finally:
            reporter.cancel()
            restore_signals()
            progress.finish()
        elapsed = time.monotonic() - started
    return Summary.of(
        via=options.via.value,
        devices=len(device_ids),
        seed=generator.seed,
        elapsed=elapsed,
        counters=counters,
        generated=generator.counts,
    )


async def pump(
    generator: ReadingGenerator,
    transport: Transport,
    counters: Counters,
    options: SimulationOptions,
    stop: asyncio.Event,
) -> None:
    """Hand the transport what is due: rate × elapsed time in total, in slices the transport accepts.

    A batching transport gets a full batch, or what is due once its linger time has passed since the last
    send: at 400 readings/s HTTP sends 40-record requests ten times a second rather than 2-record ones.
    """
    loop = asyncio.get_running_loop()
    rate, count = options.rate, options.count
    started = last_send = loop.time()
    deadline = started + options.duration if options.duration else math.inf
    while not stop.is_set():
        now = loop.time()
        if count is not None and counters.sent >= count:
            return
        if now >= deadline:
            if rate:  # what fell due while a batch was filling still goes out
                # Rounded first: float subtraction can make 0.6 s × 2,000/s come out as 1,199.9999.
                rest = min(int(round((deadline - started) * rate, 6)), count or math.inf) - counters.sent
                await _send(generator, transport, counters, int(min(rest, rate * MAX_BACKLOG)))
            return
        if rate:
            due = int((now - started) * rate) - counters.sent
            behind = due - int(rate * MAX_BACKLOG)
            if behind > 0:  # the transport stalled: skip what is over a second late instead of bursting it
                started += behind / rate
                due -= behind
            wait = _wait(due, rate, now - started, now - last_send, transport, options.count, counters.sent)
            if wait:
                await asyncio.sleep(wait)
                continue
            due = min(due, max(transport.max_batch, int(rate * MIN_TICK)))
        else:
            due = transport.max_batch
        if count is not None:
            due = min(due, count - counters.sent)
        await _send(generator, transport, counters, due)
        last_send = loop.time()
        if not rate:
            await asyncio.sleep(0)  # let the transport's I/O and the progress line run


def _wait(
    due: int, rate: float, elapsed: float, idle: float, transport: Transport, count: int | None, sent: int
) -> float:
    """Seconds to sleep before sending (0: send now): until the next reading is due, or until a batch fills."""
    if due <= 0:
        return min(max((sent + 1) / rate - elapsed, MIN_TICK), MAX_TICK)
    batch = transport.max_batch if count is None else min(transport.max_batch, count - sent)
    if due < batch and idle < transport.linger:
        return min(max(transport.linger - idle, MIN_TICK), MAX_TICK)
    return 0.0


async def _send(generator: ReadingGenerator, transport: Transport, counters: Counters, due: int) -> None:
    while due > 0:
        size = min(due, transport.max_batch)
        records = generator.take(size, time.time_ns() // 1_000_000)
        await transport.send(records)
        counters.sent += size
        due -= size


def _stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """The first Ctrl-C (or SIGTERM) stops the run cleanly, with a summary; a second one interrupts at once."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def first(sig: signal.Signals) -> None:
        stop.set()
        loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, first, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            continue
        installed.append(sig)

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return restore

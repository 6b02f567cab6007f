"""Simulated devices taking firmware jobs: their links to the job service and the fleet that runs them.

Over MQTT each device has a job client of its own (client id `sim-jobs-<deviceId>`), even though the
readings of all devices share one connection: retained notifications, `$next/get` answers and the reboot
(a device's connection going away and coming back) are per device, so to the broker every device must look
like an independent client. paho runs on the asyncio loop through its socket hooks (as the telemetry
transport does), so a few hundred devices cost sockets, not threads.

Over HTTP a device polls GET /firmware/devices/{id}/jobs and reports with POST /firmware/devices/{id}/jobs/{jobId}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from iotmon.simulate.firmware_device import Answer, Behaviour, Execution, FirmwareDevice, JobCounts
from iotmon.simulate.options import MqttUrl, SimulationOptions, Via

log = logging.getLogger("iotmon.simulate.jobs")

KEEPALIVE = 30
HOUSEKEEPING_SECONDS = 1.0
ANSWER_TIMEOUT = 10.0
ANSWER_ATTEMPTS = 3
CONNECT_TIMEOUT = 10.0
HTTP_POLL_SECONDS = 2.0


def execution_of(body: dict[str, Any]) -> Execution:
    """An MQTT execution object (docs/device-jobs.md)."""
    document = body.get("jobDocument", {})
    return Execution(
        job_id=str(body["jobId"]),
        status=str(body.get("status", "QUEUED")),
        version_number=int(body.get("versionNumber", 0)),
        attempt=int(body.get("executionNumber", 1)),
        firmware_version=str(document.get("version", "")),
        url=str(document.get("url", "")),
        sha256=str(document.get("sha256", "")),
        size=int(document.get("size", 0) or 0),
        operation=str(document.get("operation", "install")),
    )


def execution_of_http(body: dict[str, Any]) -> Execution:
    """A JobExecution of the HTTP API (camelCase JSON of the contract's message)."""
    return Execution(
        job_id=str(body["jobId"]),
        status=str(body.get("status", "QUEUED")),
        version_number=int(body.get("versionNumber", 0)),
        attempt=int(body.get("attempt", 1)),
        firmware_version=str(body.get("firmwareVersion", "")),
        url=str(body.get("downloadUrl", "")),
        sha256=str(body.get("checksum", "")),
        size=int(body.get("size", 0) or 0),
        operation=str(body.get("operation", "install")),
    )


class MqttJobLink:
    """One device's job client on the broker."""

    def __init__(self, url: MqttUrl, device_id: str, prefix: str = "devices") -> None:
        self._url = url
        self._base = f"{prefix}/{device_id}/jobs"
        self._loop = asyncio.get_running_loop()
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[tuple[bool, dict[str, Any]]]] = {}
        self._notifications: asyncio.Queue[Execution | None] = asyncio.Queue()
        self._cancelled: set[str] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sim-jobs-{device_id}"[:128], protocol=mqtt.MQTTv311
        )
        if url.username:
            self._client.username_pw_set(url.username, url.password)
        client = self._client
        client.on_socket_open = lambda c, _u, sock: self._loop.add_reader(sock, c.loop_read)
        client.on_socket_close = lambda _c, _u, sock: self._forget(sock)
        client.on_socket_register_write = lambda c, _u, sock: self._loop.add_writer(sock, c.loop_write)
        client.on_socket_unregister_write = lambda _c, _u, sock: self._stop_writing(sock)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_message

    def _forget(self, sock: Any) -> None:
        if self._watchable(sock):
            self._loop.remove_reader(sock)

    def _stop_writing(self, sock: Any) -> None:
        if self._watchable(sock):
            self._loop.remove_writer(sock)

    def _watchable(self, sock: Any) -> bool:
        # paho's Client.__del__ unregisters a socket it still holds, possibly already closed or after the
        # loop closed (interpreter exit): there is nothing left to unregister then.
        return not self._loop.is_closed() and sock.fileno() >= 0

    async def connect(self) -> None:
        self._connected.clear()
        self._subscribed.clear()
        self._client.connect(self._url.host, self._url.port, keepalive=KEEPALIVE)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await self._connected.wait()
            await self._subscribed.wait()
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._keep_alive())

    async def disconnect(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            self._housekeeping = None
        sock = self._client.socket()
        self._client.disconnect()
        if sock is None:
            return
        # Write the DISCONNECT now rather than leave it to the loop's writer: once it is out, paho closes the
        # socket itself (through on_socket_close), so it holds no socket for Client.__del__ to unregister.
        self._client.loop_write()
        if self._client.socket() is not None:  # the write would block: stop watching the socket ourselves
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    async def next_job(self) -> Execution | None:
        answer = await self._request("$next/get", {})
        body = answer.get("execution")
        return execution_of(body) if isinstance(body, dict) else None

    async def wait_for_job(self) -> Execution | None:
        latest = await self._notifications.get()
        while not self._notifications.empty():  # only the newest notification matters
            latest = self._notifications.get_nowait()
        return latest

    async def report(self, job_id: str, status: str, details: dict[str, str], expected_version: int | None) -> Answer:
        body: dict[str, Any] = {"status": status, "statusDetails": details}
        if expected_version is not None:
            body["expectedVersion"] = expected_version
        try:
            answer = await self._request(f"{job_id}/update", body)
        except _Rejected as rejected:
            return Answer(False, code=str(rejected.body.get("code", "Rejected")))
        return Answer(True, answer.get("executionState", {}).get("versionNumber"))

    def cancelled(self, job_id: str) -> bool:
        return job_id in self._cancelled

    async def _request(self, suffix: str, body: dict[str, Any]) -> dict[str, Any]:
        token = uuid.uuid4().hex[:16]
        future: asyncio.Future[tuple[bool, dict[str, Any]]] = self._loop.create_future()
        self._waiting[token] = future
        try:
            # Unanswered (the service restarting): ask again with the same token, so the first answer counts.
            for attempt in range(ANSWER_ATTEMPTS):
                self._client.publish(f"{self._base}/{suffix}", orjson.dumps(body | {"clientToken": token}), qos=1)
                try:
                    accepted, answer = await asyncio.wait_for(asyncio.shield(future), ANSWER_TIMEOUT)
                    break
                except TimeoutError:
                    if attempt == ANSWER_ATTEMPTS - 1:
                        raise
        finally:
            self._waiting.pop(token, None)
        if not accepted:
            raise _Rejected(answer)
        return answer

    async def _keep_alive(self) -> None:
        """Keepalive pings, and a reconnect when the broker went away (not during a reboot: it stops this)."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            self._client.loop_misc()
            if not self._client.is_connected():
                with contextlib.suppress(OSError):
                    self._client.reconnect()

    # paho callbacks, on the event loop (its socket hooks call loop_read/loop_write from the loop).

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.warning("job client refused: %s", reason)
            return
        self._connected.set()
        base = self._base
        topics = [f"{base}/notify-next", f"{base}/+/cancel", f"{base}/$next/get/+", f"{base}/+/update/+"]
        client.subscribe([(topic, 1) for topic in topics])

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        suffix = message.topic[len(self._base) + 1 :]
        payload = bytes(message.payload)
        if suffix == "notify-next":
            body = orjson.loads(payload) if payload else {}
            execution = body.get("execution")
            self._notifications.put_nowait(execution_of(execution) if isinstance(execution, dict) else None)
            return
        if suffix.endswith("/cancel"):
            self._cancelled.add(suffix.rsplit("/", 1)[0])
            return
        body = orjson.loads(payload)
        future = self._waiting.get(str(body.get("clientToken")))
        if future is not None and not future.done():
            future.set_result((suffix.endswith("/accepted"), body))


class _Rejected(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("code"))
        self.body = body


class HttpJobLink:
    """One device's HTTP fallback: it polls for work and reports through the gateway."""

    def __init__(self, api: httpx.AsyncClient, device_id: str, poll_seconds: float = HTTP_POLL_SECONDS) -> None:
        self._api = api
        self._path = f"/firmware/devices/{device_id}/jobs"
        self._poll = poll_seconds

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def next_job(self) -> Execution | None:
        try:
            response = await self._api.get(self._path)
        except httpx.HTTPError:
            return None
        if response.status_code != httpx.codes.OK:
            return None
        body = response.json()
        pending = [*body.get("inProgress", []), *body.get("queued", [])]
        return execution_of_http(pending[0]) if pending else None

    async def wait_for_job(self) -> Execution | None:
        await asyncio.sleep(self._poll)
        return await self.next_job()

    async def report(self, job_id: str, status: str, details: dict[str, str], expected_version: int | None) -> Answer:
        body: dict[str, Any] = {"status": status, "statusDetails": details}
        if expected_version is not None:
            body["expectedVersion"] = expected_version
        try:
            response = await self._api.post(f"{self._path}/{job_id}", json=body)
        except httpx.HTTPError as error:
            return Answer(False, code=type(error).__name__)
        if response.status_code != httpx.codes.OK:
            return Answer(False, code=f"HTTP {response.status_code}")
        return Answer(True, response.json().get("versionNumber"))

    def cancelled(self, job_id: str) -> bool:
        return False  # learnt when the next report is refused


class FirmwareFleet:
    """The devices that take jobs, run as tasks; their versions stamp the readings they send."""

    def __init__(self, devices: Sequence[FirmwareDevice], silent: int = 0) -> None:
        self.devices = list(devices)
        self.silent = silent
        self.counts = devices[0].counts if devices else JobCounts()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        async def run(device: FirmwareDevice) -> None:
            try:
                await device.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # one device's trouble is logged, the others go on
                log.exception("simulated device %s stopped taking jobs", device.device_id)

        self._tasks = [asyncio.create_task(run(device)) for device in self.devices]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for device in self.devices:
            with contextlib.suppress(Exception):
                await device.link.disconnect()

    def stamp(self, records: list[Any]) -> None:
        """Readings carry the version the device runs (top-level firmwareVersion, beside deviceId)."""
        versions = {d.device_id: d.firmware_version for d in self.devices}
        for record in records:
            version = versions.get(record["deviceId"])
            if version is not None:
                record["firmwareVersion"] = version


async def download_with(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(url, follow_redirects=True)
    response.raise_for_status()
    return response.content


@contextlib.asynccontextmanager
async def firmware_fleet(
    device_ids: Sequence[str],
    *,
    via_mqtt: MqttUrl | None,
    api: httpx.AsyncClient | None,
    behaviour: Behaviour,
    initial_version: str,
    silent: int = 0,
    seed: int | None = None,
    topic_prefix: str = "devices",
) -> AsyncIterator[FirmwareFleet]:
    """Start the job-taking devices (all but the last `silent`, which never answer) and stop them at the end."""
    counts = JobCounts()
    taking = list(device_ids)[: max(len(device_ids) - silent, 0)]
    async with httpx.AsyncClient(timeout=60.0) as downloads:
        devices = []
        for index, device_id in enumerate(taking):
            link: Any
            if via_mqtt is not None:
                link = MqttJobLink(via_mqtt, device_id, topic_prefix)
            else:
                assert api is not None
                link = HttpJobLink(api, device_id)

            async def download(url: str, base: httpx.AsyncClient | None = api) -> bytes:
                if url.startswith("/") and base is not None:  # a path on the gateway
                    url = str(base.base_url.join(url))
                return await download_with(downloads, url)

            rng = random.Random(f"{seed}/{index}") if seed is not None else random.Random()
            devices.append(
                FirmwareDevice(device_id, link, download, behaviour, counts, firmware_version=initial_version, rng=rng)
            )
        fleet = FirmwareFleet(devices, silent)
        await fleet.start()
        try:
            yield fleet
        finally:
            await fleet.stop()


class StampedTransport:
    """The readings transport, with each record stamped with its device's firmware version before it goes."""

    def __init__(self, inner: Any, fleet: FirmwareFleet) -> None:
        self._inner = inner
        self._fleet = fleet
        self.max_batch: int = inner.max_batch
        self.linger: float = inner.linger

    async def send(self, records: list[Any]) -> None:
        self._fleet.stamp(records)
        await self._inner.send(records)

    async def drain(self) -> None:
        await self._inner.drain()


@contextlib.asynccontextmanager
async def open_fleet(
    options: SimulationOptions, device_ids: Sequence[str], token: str
) -> AsyncIterator[FirmwareFleet | None]:
    """The job-taking fleet the options ask for (MQTT job clients with --via mqtt, else the HTTP fallback), or None."""
    if not options.takes_jobs:
        yield None
        return
    headers = {"authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=options.gateway, headers=headers, timeout=30.0) as api,
        firmware_fleet(
            device_ids,
            via_mqtt=options.mqtt if options.via is Via.MQTT else None,
            api=api,
            behaviour=Behaviour(options.install_seconds, options.install_failure_rate, options.reboot_seconds),
            initial_version=options.initial_firmware,
            silent=options.silent_devices,
            seed=options.seed,
            topic_prefix=options.jobs_topic_prefix,
        ) as fleet,
    ):
        yield fleet

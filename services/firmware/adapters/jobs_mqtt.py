"""The MQTT job channel: device jobs on topics modelled on AWS IoT Jobs, under `devices/{deviceId}/jobs/...`.

Service → device:
- `notify-next` (retained, QoS 1): the device's next job execution, or an empty payload when none is pending.
  Retained, so a device that was offline or rebooting gets it as soon as it subscribes again. Re-published
  after every accepted report, so the retained copy always shows the job as it now stands.
- `{jobId}/cancel` (QoS 1): stop working on this job.
Device → service, answered on `<request topic>/accepted` or `/rejected`:
- `$next/get`: the next job (JobHandler.next_job);
- `{jobId}/update`: a status report (JobHandler.on_report).

paho runs its network loop in its own thread (as the telemetry source does); requests cross into the event
loop and are handled by a few workers, one device always by the same worker so its reports apply in order.
A request is acknowledged (PUBACK) only once answered: with a persistent session under a stable client id,
a request that arrived while a replica died is delivered again. Several replicas share the requests through
a shared subscription, so each is handled once.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.firmware.adapters import jobs_codec as codec
from services.firmware.adapters.jobs_mqtt_config import MqttJobOptions
from services.firmware.domain.rollout.job import JobDocument
from services.firmware.ports import JobHandler
from services.kernel.errors import Unavailable
from services.runtime.mqtt import MqttEndpoint

log = logging.getLogger("iotmon.firmware.jobs.mqtt")
T = TypeVar("T")

QOS = 1
PUBLISH_POLL_SECONDS = 0.005
HANDLER_ATTEMPTS = 3  # a handler that is briefly unavailable (store fail-over) is tried again before InternalError

# topic, payload, packet id, QoS, generation of the connection it arrived on
Request = tuple[str, bytes, int, int, int]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MqttJobChannel:
    """JobChannel over an MQTT broker (Mosquitto ≥ 1.6 or IoT Core)."""

    def __init__(
        self,
        endpoint: MqttEndpoint | str,
        options: MqttJobOptions | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.endpoint = MqttEndpoint.parse(endpoint) if isinstance(endpoint, str) else endpoint
        self.options = options or MqttJobOptions()
        self.topics = self.options.topics
        self._clock = clock
        self._handler: JobHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._queues: list[asyncio.Queue[Request]] = []
        self._workers: list[asyncio.Task[None]] = []
        # Bumped by each CONNACK in paho's thread: a PUBACK names a packet id of one connection only.
        self._generation = 0
        # (job_id, attempt) already published by this process: notify() sends each once.
        self._notified: set[tuple[str, int]] = set()
        self.subscribed = asyncio.Event()  # set when the subscriptions are in place (tests, readiness)

    # -- JobChannel ------------------------------------------------------------------------------------

    async def start(self, handler: JobHandler) -> None:
        if self._client is not None:
            raise RuntimeError("the job channel is already started")
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        self._queues = [asyncio.Queue() for _ in range(self.options.workers)]
        self._workers = [asyncio.create_task(self._work(queue)) for queue in self._queues]
        self._client = client = self._new_client()
        client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self.options.keepalive_seconds,
            clean_start=False,
            properties=self._connect_properties(),
        )
        client.loop_start()
        log.info("job channel connecting", extra={"broker": str(self.endpoint), "prefix": self.topics.prefix})

    async def notify(self, jobs: Sequence[JobDocument]) -> None:
        fresh = [job for job in _unique(jobs) if (job.job_id, job.attempt) not in self._notified]
        if not fresh:
            return
        now = self._clock()
        await self._publish_all(
            (self.topics.notify_next(job.device_id), codec.notify_next(job, now), True) for job in fresh
        )
        self._notified.update((job.job_id, job.attempt) for job in fresh)

    async def cancel(self, jobs: Sequence[JobDocument]) -> None:
        if not jobs:
            return
        now = self._clock()
        messages = [(self.topics.cancel(job.device_id, job.job_id), codec.cancelled(job, now), False) for job in jobs]
        for device_id, cancelled in _by_device(jobs).items():
            following = await self._following(device_id, cancelled)
            messages.append((self.topics.notify_next(device_id), codec.notify_next(following, now), True))
        await self._publish_all(messages)

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    # -- requests from devices -------------------------------------------------------------------------

    async def _work(self, queue: asyncio.Queue[Request]) -> None:
        while True:
            topic, payload, mid, qos, generation = await queue.get()
            try:
                await self._answer(topic, payload)
            except Exception:  # a bug must not stop the worker; the request is answered InternalError
                log.exception("job request failed", extra={"topic": topic})
                self._publish(
                    topic + "/rejected", codec.rejected(codec.INTERNAL_ERROR, "internal error", self._clock(), None)
                )
            self._acknowledge(mid, qos, generation)

    async def _answer(self, topic: str, payload: bytes) -> None:
        parsed = self.topics.parse(topic)
        if parsed is None:
            log.warning("request on an unexpected topic ignored", extra={"topic": topic})
            return
        device_id, job_id, action = parsed
        now = self._clock()
        try:
            if action == "get":
                token = codec.parse_get(payload)
                job = await self._call(lambda: self._handler_().next_job(device_id))
                self._publish(topic + "/accepted", codec.next_job_accepted(job, now, token))
                return
            request = codec.parse_update(device_id, job_id, payload, now)
        except codec.BadRequest as bad:
            self._publish(topic + "/rejected", codec.rejected(codec.INVALID_REQUEST, str(bad), now, bad.client_token))
            return
        report, token = request.report, request.client_token
        outcome = await self._call(lambda: self._handler_().on_report(report))
        if not outcome.accepted:
            code, message = codec.refusal(outcome)
            self._publish(topic + "/rejected", codec.rejected(code, message, now, token, outcome.job))
            return
        self._publish(topic + "/accepted", codec.update_accepted(outcome, report, now, token))
        await self._refresh_notification(device_id, outcome.job, now)

    async def _refresh_notification(self, device_id: str, job: JobDocument | None, now: datetime) -> None:
        """Keep the retained notification current: the job as it now stands, or the next one, or nothing."""
        try:
            if job is None or job.status.terminal:
                job = await self._call(lambda: self._handler_().next_job(device_id))
        except Exception:  # the report is applied and answered; the next report or notify refreshes it
            log.warning("next job unknown, notification left as it was", exc_info=True, extra={"device": device_id})
            return
        self._publish(self.topics.notify_next(device_id), codec.notify_next(job, now), retain=True)

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """The handler, tried again while it is briefly Unavailable."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Unavailable),
            stop=stop_after_attempt(HANDLER_ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=2),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _following(self, device_id: str, cancelled: set[str]) -> JobDocument | None:
        """The job the device should turn to after `cancelled`: the handler's next one, unless it is one of them."""
        if self._handler is None:
            return None
        job = await self._call(lambda: self._handler_().next_job(device_id))
        return None if job is None or job.job_id in cancelled else job

    def _handler_(self) -> JobHandler:
        assert self._handler is not None
        return self._handler

    # -- publishing ------------------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        if self._client is None:
            raise Unavailable("the job channel is not started")
        return self._client.publish(topic, payload, qos=QOS, retain=retain)

    async def _publish_all(self, messages: Iterable[tuple[str, bytes, bool]]) -> None:
        """Publish and wait for every PUBACK; Unavailable when the broker does not confirm in time."""
        infos = [self._publish(topic, payload, retain) for topic, payload, retain in messages]
        try:
            async with asyncio.timeout(self.options.publish_timeout_seconds):
                # paho marks PUBACKs in its own thread; polling costs less than a waiting thread per message.
                while not all(info.is_published() for info in infos):  # noqa: ASYNC110
                    await asyncio.sleep(PUBLISH_POLL_SECONDS)
        except TimeoutError:
            raise Unavailable(
                "the MQTT broker did not confirm the job notifications; they will be sent again"
            ) from None

    def _acknowledge(self, mid: int, qos: int, generation: int) -> None:
        # A request of an earlier connection is redelivered under a new packet id: its old id is not ours to ack.
        if qos and generation == self._generation and self._client is not None:
            self._client.ack(mid, qos)

    # -- paho ------------------------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        options = self.options
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=options.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if self.endpoint.username:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.endpoint.tls:
            client.tls_set(ca_certs=options.ca_file, certfile=options.cert_file, keyfile=options.key_file)
        client.reconnect_delay_set(options.reconnect_min_seconds, options.reconnect_max_seconds)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.options.session_expiry_seconds
        return properties

    # paho callbacks: they run in paho's network thread.

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection", extra={"broker": str(self.endpoint), "reason": str(reason)})
            return
        self._generation += 1
        # Subscribing on every connect keeps the subscriptions whether or not the broker kept the session.
        filters = self.topics.subscriptions(self.options.group)
        client.subscribe([(topic, SubscribeOptions(qos=QOS)) for topic in filters])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("job subscriptions refused", extra={"reasons": [str(r) for r in reasons]})
        elif self._loop is not None:
            log.info("job channel subscribed", extra={"prefix": self.topics.prefix, "group": self.options.group})
            self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("job channel lost the broker, reconnecting", extra={"reason": str(reason)})

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._loop is None:
            return
        request = (message.topic, bytes(message.payload), message.mid, message.qos, self._generation)
        self._loop.call_soon_threadsafe(self._enqueue, request)

    def _enqueue(self, request: Request) -> None:
        parsed = self.topics.parse(request[0])
        key = parsed[0] if parsed else request[0]
        self._queues[zlib.crc32(key.encode()) % len(self._queues)].put_nowait(request)


def _unique(jobs: Sequence[JobDocument]) -> list[JobDocument]:
    """One notification per (job, attempt), in order."""
    seen: dict[tuple[str, int], JobDocument] = {}
    for job in jobs:
        seen.setdefault((job.job_id, job.attempt), job)
    return list(seen.values())


def _by_device(jobs: Sequence[JobDocument]) -> dict[str, set[str]]:
    devices: dict[str, set[str]] = {}
    for job in jobs:
        devices.setdefault(job.device_id, set()).add(job.job_id)
    return devices

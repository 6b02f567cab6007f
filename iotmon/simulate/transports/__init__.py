"""The four ways records travel: MQTT (as devices do), HTTP and gRPC batches, Kinesis (as IoT Core's rule does).

Each transport module is imported only when chosen, so a missing optional package (aioboto3) only matters
to the transport that needs it.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager

from iotmon.simulate.options import SimulationOptions, Via
from iotmon.simulate.stats import Counters
from iotmon.simulate.transports.base import Transport, TransportError

__all__ = ["Transport", "TransportError", "open_transport"]


def open_transport(
    options: SimulationOptions, token: str, counters: Counters
) -> AbstractAsyncContextManager[Transport]:
    if options.via is Via.MQTT:
        from iotmon.simulate.transports.via_mqtt import open_mqtt

        client_id = f"iotmon-simulate-{options.prefix}-{os.getpid()}"
        return open_mqtt(options.mqtt, options.qos, counters, client_id=client_id)
    if options.via is Via.HTTP:
        from iotmon.simulate.transports.via_http import open_http

        return open_http(options.gateway, token, options.batch_size, options.requests_in_flight, counters)
    if options.via is Via.GRPC:
        from iotmon.simulate.transports.via_grpc import open_grpc

        return open_grpc(options.grpc_address, token, counters)
    from iotmon.simulate.transports.via_kinesis import open_kinesis

    assert options.kinesis_stream is not None  # checked by the options
    return open_kinesis(options.kinesis_stream, options.requests_in_flight, counters)

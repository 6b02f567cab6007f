"""The job JSON shapes and topic names, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from services.firmware.adapters import jobs_codec as codec
from services.firmware.adapters.jobs_mqtt_config import JobTopics, MqttJobOptions
from services.firmware.domain.rollout.job import JobReportOutcome, JobStatus
from services.runtime.mqtt import MqttEndpoint
from tests.unit.firmware_jobs.fakes import make_job

NOW = datetime(2025, 11, 15, 14, 0, tzinfo=UTC)


def test_an_update_becomes_a_report_with_its_details_and_expected_version() -> None:
    body = {"status": "FAILED", "statusDetails": {"reason": "checksum"}, "expectedVersion": 3, "clientToken": "c"}
    request = codec.parse_update("dev-1", "job-1", orjson.dumps(body), NOW)
    report = request.report
    assert (report.job_id, report.device_id, report.status, report.expected_version) == (
        "job-1",
        "dev-1",
        JobStatus.FAILED,
        3,
    )
    assert (dict(report.status_details), report.reported_at, request.client_token) == ({"reason": "checksum"}, NOW, "c")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"status": "QUEUED"}',
        b'{"status": "CANCELED"}',
        b'{"status": "in_progress"}',
        b'{"status": "IN_PROGRESS", "expectedVersion": "2"}',
        b'{"status": "IN_PROGRESS", "expectedVersion": -1}',
        b'{"status": "IN_PROGRESS", "statusDetails": []}',
        b'{"status": "IN_PROGRESS", "clientToken": 5}',
    ],
)
def test_malformed_updates_are_bad_requests(body: bytes) -> None:
    with pytest.raises(codec.BadRequest):
        codec.parse_update("dev-1", "job-1", body, NOW)


def test_a_bad_request_keeps_the_client_token_when_it_could_be_read() -> None:
    with pytest.raises(codec.BadRequest) as raised:
        codec.parse_update("dev-1", "job-1", b'{"status": "NOPE", "clientToken": "tok"}', NOW)
    assert raised.value.client_token == "tok"


def test_refusal_reasons_map_to_aws_codes() -> None:
    codes = {reason: codec.refusal(JobReportOutcome(False, None, reason))[0] for reason in codec.REJECTION_CODES}
    assert codes == {
        "JOB_NOT_FOUND": "ResourceNotFound",
        "JOB_ALREADY_FINISHED": "TerminalStateReached",
        "VERSION_MISMATCH": "VersionMismatch",
        "INVALID_STATUS": "InvalidRequest",
    }


def test_no_next_job_clears_the_notification_and_answers_without_execution() -> None:
    assert codec.notify_next(None, NOW) == b""
    assert orjson.loads(codec.next_job_accepted(None, NOW, "t")) == {
        "timestamp": int(NOW.timestamp()),
        "clientToken": "t",
    }
    with_job = orjson.loads(codec.next_job_accepted(make_job("dev-1", attempt=3), NOW, None))
    assert (with_job["execution"]["executionNumber"], with_job["execution"]["thingName"]) == (3, "dev-1")


def test_topics_of_a_prefix_and_what_the_service_subscribes_to() -> None:
    topics = JobTopics("t/devices")
    assert topics.notify_next("d1") == "t/devices/d1/jobs/notify-next"
    assert topics.subscriptions("grp") == [
        "$share/grp/t/devices/+/jobs/$next/get",
        "$share/grp/t/devices/+/jobs/+/update",
    ]
    assert topics.subscriptions(None)[0] == "t/devices/+/jobs/$next/get"
    assert topics.parse("t/devices/d1/jobs/$next/get") == ("d1", "$next", "get")
    assert topics.parse("t/devices/d1/jobs/job-9/update") == ("d1", "job-9", "update")
    for other in ("t/devices/d1/jobs/$next/update", "t/devices/d1/jobs/j/update/accepted", "x/d1/jobs/j/update"):
        assert topics.parse(other) is None


def test_endpoint_and_options_are_checked() -> None:
    endpoint = MqttEndpoint.parse("mqtts://user:p%40ss@broker.example:8884")
    assert (endpoint.host, endpoint.port, endpoint.password, endpoint.tls) == ("broker.example", 8884, "p@ss", True)
    assert "p@ss" not in str(endpoint)
    with pytest.raises(ValueError, match="not an MQTT URL"):
        MqttEndpoint.parse("http://broker")
    with pytest.raises(ValueError, match="client id"):
        MqttJobOptions(client_id="has space")

"""The signed upload policy and download URLs shared by the firmware service and the gateway."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.runtime.settings import RuntimeSettings
from services.runtime.signed_upload import (
    PolicyRefused,
    UploadPolicy,
    load_signing_key,
    object_path,
    sign_download,
    sign_upload,
    verify_download,
    verify_upload,
)

SECRET = b"k" * 32
NOW = datetime(2025, 11, 15, 14, 0, tzinfo=UTC)


def a_form(**changes: str) -> dict[str, str]:
    policy = UploadPolicy(
        "firmware/fw-1.bin", NOW + timedelta(minutes=15), 1000, fields={"x-amz-meta-firmware-id": "fw-1"}
    )
    return sign_upload(SECRET, policy) | changes


def refusal(form: dict[str, str], now: datetime = NOW) -> str:
    with pytest.raises(PolicyRefused) as refused:
        verify_upload(SECRET, form, now)
    return refused.value.code


def test_the_form_has_the_spec_fields_and_verifies() -> None:
    form = a_form()
    assert {"key", "policy", "signature"} <= set(form)
    verified = verify_upload(SECRET, form, NOW)
    assert (verified.key, verified.min_bytes, verified.max_bytes) == ("firmware/fw-1.bin", 0, 1000)
    assert verified.metadata == {"firmware-id": "fw-1"}


def test_tampering_expiry_and_foreign_keys_are_refused() -> None:
    assert refusal(a_form(signature="0" * 64)) == "SIGNATURE_MISMATCH"
    assert refusal(a_form(), NOW + timedelta(minutes=16)) == "POLICY_EXPIRED"
    assert refusal(a_form(key="firmware/other.bin")) == "POLICY_CONDITION_FAILED"
    assert refusal(a_form(**{"x-amz-meta-firmware-id": "fw-2"})) == "POLICY_CONDITION_FAILED"
    assert refusal(a_form(acl="public-read")) == "POLICY_CONDITION_FAILED", "every field must be signed for"
    assert refusal({k: v for k, v in a_form().items() if k != "policy"}) == "POLICY_MISSING"
    with pytest.raises(PolicyRefused):
        verify_upload(b"another key", a_form(), NOW)


def test_a_policy_with_a_bigger_limit_does_not_verify_without_the_key() -> None:
    form = a_form()
    document = json.loads(base64.b64decode(form["policy"]))
    document["conditions"][1] = ["content-length-range", 0, 10**12]
    forged = base64.b64encode(json.dumps(document).encode()).decode()
    assert refusal(form | {"policy": forged}) == "SIGNATURE_MISMATCH"


def test_download_signatures_cover_key_and_expiry() -> None:
    expires = int((NOW + timedelta(hours=1)).timestamp())
    signature = sign_download(SECRET, "firmware/fw-1.bin", expires)
    verify_download(SECRET, "firmware/fw-1.bin", str(expires), signature, NOW)
    for key, at, sig, when in [
        ("firmware/fw-2.bin", expires, signature, NOW),
        ("firmware/fw-1.bin", expires + 1, signature, NOW),
        ("firmware/fw-1.bin", expires, signature, NOW + timedelta(hours=2)),
    ]:
        with pytest.raises(PolicyRefused):
            verify_download(SECRET, key, str(at), sig, when)


def test_object_keys_cannot_leave_the_store(tmp_path: Path) -> None:
    assert object_path(tmp_path, "firmware/fw-1.bin") == tmp_path / "firmware" / "fw-1.bin"
    for key in ("../etc/passwd", "/abs", "firmware/../../x", "", "a//b", "a b"):
        with pytest.raises(ValueError, match="invalid object key"):
            object_path(tmp_path, key)


def test_the_key_is_made_once_and_shared_through_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOTMON_UPLOAD_SIGNING_KEY", raising=False)
    settings = RuntimeSettings(data_dir=tmp_path)
    first = load_signing_key(settings)
    assert len(first) == 32
    assert load_signing_key(RuntimeSettings(data_dir=tmp_path)) == first
    assert (tmp_path / "keys" / "upload-signing.key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("IOTMON_UPLOAD_SIGNING_KEY", "configured-secret")
    assert load_signing_key(settings) == b"configured-secret"

"""Signed upload and download URLs of the embedded object store, shared by the firmware service and the gateway.

The firmware service signs (it hands out upload targets and device download URLs); the gateway verifies
(it serves `POST /objects` and `GET /objects/{key}`). Neither may import the other, so both use this module
and the same HMAC key: `IOTMON_UPLOAD_SIGNING_KEY` when set (several hosts), else a random key kept in the
data directory's key folder (`keys/upload-signing.key`, 0600), created on first use by whichever process
comes first — the same way the embedded JWT key persists (services/runtime/keys.py).

An upload is an S3-style POST policy: a base64 JSON document `{"expiration": …, "conditions": [...]}` with
`{"field": "value"}` and `["eq" | "starts-with", "$field", value]` conditions and a `content-length-range`,
signed with HMAC-SHA256. The form carries `key`, `policy`, `signature`, the pinned fields, and the `file`
part last — so the same client code posts to S3 or here. As with S3, every other form field must be named by
a condition. A download URL signs the key and an expiry time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.settings import RuntimeSettings

KEY_FILE_NAME = "upload-signing.key"
OBJECTS_DIR_NAME = "objects"
# The gateway's endpoints (the embedded "bucket"): POST the form here, GET an object below it.
UPLOAD_PATH = "/objects"
DOWNLOAD_PREFIX = "/objects/"
ALGORITHM_FIELD = "x-iotmon-algorithm"
ALGORITHM = "HMAC-SHA256"
METADATA_PREFIX = "x-amz-meta-"
# Form entries a policy need not name (as in S3): the signature's own fields and the file.
UNSIGNED_FIELDS = frozenset({"policy", "signature", ALGORITHM_FIELD, "file"})
_KEY = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")


class UploadSigningSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_", extra="ignore")

    # Shared by the gateway and the firmware service when they do not share a data directory.
    upload_signing_key: SecretStr | None = None


def load_signing_key(settings: RuntimeSettings) -> bytes:
    """The HMAC key: the setting when given, else the data directory's (created on first use). Blocking I/O."""
    configured = UploadSigningSettings().upload_signing_key
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    path = settings.keys_dir / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    return bytes.fromhex(path.read_text().strip())


def _create_key_file(path: Path) -> None:
    """Write a new key privately, then link it into place: if another process won the race, its key stays."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def objects_dir(settings: RuntimeSettings) -> Path:
    return settings.data_dir / OBJECTS_DIR_NAME


def valid_key(key: str) -> bool:
    """Keys are relative slash-separated names of safe characters, never `.` or `..` segments."""
    return bool(_KEY.fullmatch(key)) and all(part not in (".", "..") for part in key.split("/")) and len(key) <= 512


def object_path(root: Path, key: str) -> Path:
    if not valid_key(key):
        raise ValueError(f"invalid object key {key!r}")
    return root.joinpath(*PurePosixPath(key).parts)


class PolicyRefused(Exception):
    """The form does not satisfy its signed policy (S3 answers 403 AccessDenied); `code` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UploadPolicy:
    key: str
    expires_at: datetime
    max_bytes: int
    min_bytes: int = 0
    # Further form fields pinned to exact values (x-amz-meta-* metadata).
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifiedUpload:
    key: str
    min_bytes: int
    max_bytes: int
    # Metadata fields of the form, without their x-amz-meta- prefix.
    metadata: dict[str, str]


def _mac(secret: bytes, purpose: str, text: str) -> str:
    return hmac.new(secret, f"{purpose}\n{text}".encode(), hashlib.sha256).hexdigest()


def sign_upload(secret: bytes, policy: UploadPolicy) -> dict[str, str]:
    """The form fields of a presigned POST for this policy (the `file` part goes after them)."""
    expiration = policy.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    conditions: list[Any] = [{"key": policy.key}, ["content-length-range", policy.min_bytes, policy.max_bytes]]
    conditions += [{name: value} for name, value in policy.fields.items()]
    document = json.dumps({"expiration": expiration, "conditions": conditions}, separators=(",", ":"))
    encoded = base64.b64encode(document.encode()).decode()
    return {
        "key": policy.key,
        **policy.fields,
        ALGORITHM_FIELD: ALGORITHM,
        "policy": encoded,
        "signature": _mac(secret, "upload", encoded),
    }


def verify_upload(secret: bytes, form: Mapping[str, str], now: datetime) -> VerifiedUpload:
    """Check signature, expiry and every condition against the form fields sent before the file."""
    encoded, signature = form.get("policy"), form.get("signature")
    if not encoded or not signature:
        raise PolicyRefused("POLICY_MISSING", "the form needs policy and signature fields before the file")
    if not hmac.compare_digest(_mac(secret, "upload", encoded), signature):
        raise PolicyRefused("SIGNATURE_MISMATCH", "the policy's signature does not match")
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
        expires_at = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        conditions = list(document["conditions"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PolicyRefused("POLICY_MALFORMED", "the policy document cannot be read") from None
    if now > expires_at:
        raise PolicyRefused("POLICY_EXPIRED", "the upload policy has expired")
    return _check_conditions(form, conditions)


def _check_conditions(form: Mapping[str, str], conditions: list[Any]) -> VerifiedUpload:
    covered: set[str] = set()
    low, high = 0, None
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, expected),) = condition.items()
            _require(form, name, lambda value, e=expected: value == e)
            covered.add(name)
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] in ("eq", "starts-with"):
            operator, name, expected = condition[0], str(condition[1]).removeprefix("$"), str(condition[2])
            if operator == "eq":
                _require(form, name, lambda value, e=expected: value == e)
            else:
                _require(form, name, lambda value, e=expected: value.startswith(e))
            covered.add(name)
        else:
            raise PolicyRefused("POLICY_MALFORMED", f"unknown policy condition {condition!r}")
    extra = sorted(n for n in form if n not in covered and n not in UNSIGNED_FIELDS and not n.startswith("x-ignore-"))
    if extra:
        raise PolicyRefused("POLICY_CONDITION_FAILED", f"form fields not allowed by the policy: {', '.join(extra)}")
    key = form.get("key", "")
    if "key" not in covered or not valid_key(key):
        raise PolicyRefused("POLICY_CONDITION_FAILED", "the policy must pin a valid key")
    if high is None:
        raise PolicyRefused("POLICY_MALFORMED", "the policy has no content-length-range")
    metadata = {n.removeprefix(METADATA_PREFIX): v for n, v in form.items() if n.startswith(METADATA_PREFIX)}
    return VerifiedUpload(key, low, high, metadata)


def _require(form: Mapping[str, str], name: str, test: Any) -> None:
    value = form.get(name)
    if value is None or not test(value):
        raise PolicyRefused("POLICY_CONDITION_FAILED", f"the form's {name!r} does not satisfy the policy")


def sign_download(secret: bytes, key: str, expires_at: int) -> str:
    """The signature of a download URL for `key` valid until `expires_at` (Unix seconds)."""
    return _mac(secret, "download", f"{key}\n{expires_at}")


def verify_download(secret: bytes, key: str, expires: str, signature: str, now: datetime) -> None:
    try:
        expires_at = int(expires)
    except ValueError:
        raise PolicyRefused("SIGNATURE_MISMATCH", "the download URL is not signed") from None
    if not hmac.compare_digest(sign_download(secret, key, expires_at), signature):
        raise PolicyRefused("SIGNATURE_MISMATCH", "the download URL's signature does not match")
    if now.timestamp() > expires_at:
        raise PolicyRefused("POLICY_EXPIRED", "the download URL has expired")

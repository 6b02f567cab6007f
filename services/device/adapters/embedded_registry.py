"""The embedded DeviceRegistry: certificates from the local CA, their status in data_dir/ca/registry.db.

ARNs mimic AWS IoT's (arn:aws:iot:<region>:<account>:cert/<sha256 of the DER>) with a local pseudo
partition, region and account, so clients handle both registries alike.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from services.device.adapters.certificate_authority import CertificateAuthority
from services.device.domain.model import CertificateRecord, ProvisionedCredentials
from services.runtime.sqlite import open_sqlite

ARN_PREFIX = "arn:iotmon:iot:local:000000000000:cert/"
REGISTRY_FILE = "registry.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    certificate_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    status TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


class EmbeddedDeviceRegistry:
    def __init__(self, authority: CertificateAuthority, database: Path, endpoint: str):
        self._authority = authority
        self._endpoint = endpoint
        self._db = open_sqlite(database, SCHEMA)

    @classmethod
    async def open(cls, directory: Path, endpoint: str) -> EmbeddedDeviceRegistry:
        """Load the CA from `directory`, creating it on first start (RSA key generation: a worker thread)."""
        authority = await asyncio.to_thread(CertificateAuthority.load_or_create, directory)
        return cls(authority, directory / REGISTRY_FILE, endpoint)

    def close(self) -> None:
        self._db.close()

    async def provision(self, device_id: str, organization_id: str, device_type: str) -> ProvisionedCredentials:
        # RSA key generation takes tens of milliseconds: keep it off the event loop.
        issued = await asyncio.to_thread(self._authority.issue, device_id, organization_id)
        self._db.execute(
            "INSERT INTO certificates (certificate_id, device_id, organization_id, status, issued_at) "
            "VALUES (?, ?, ?, 'ACTIVE', ?)",
            (issued.certificate_id, device_id, organization_id, datetime.now(UTC).isoformat()),
        )
        return ProvisionedCredentials(
            certificate_id=issued.certificate_id,
            certificate_arn=ARN_PREFIX + issued.certificate_id,
            certificate_pem=issued.certificate_pem,
            private_key=issued.private_key_pem,
            endpoint=self._endpoint,
            ca_certificate_pem=self._authority.certificate_pem,
        )

    async def deactivate(self, device_id: str, certificate_id: str) -> None:
        self._db.execute(
            "UPDATE certificates SET status = 'REVOKED', revoked_at = ? WHERE certificate_id = ? AND status = 'ACTIVE'",
            (datetime.now(UTC).isoformat(), certificate_id),
        )

    async def describe_certificate(self, certificate_id: str) -> CertificateRecord | None:
        row = self._db.execute(
            "SELECT device_id, status FROM certificates WHERE certificate_id = ?", (certificate_id,)
        ).fetchone()
        if row is None:
            return None
        return CertificateRecord(certificate_id, str(row[0]), row[1] == "ACTIVE")

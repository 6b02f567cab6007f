"""The demo organization and admin that `iotmon up` creates on first start."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEMO_ORG = "org-demo"
DEMO_EMAIL = "admin@demo.iotmon.dev"


@dataclass(frozen=True)
class DemoAdmin:
    organization_id: str
    email: str
    password: str

    @classmethod
    def load_or_create(cls, data_dir: Path) -> DemoAdmin:
        """A random password made once and kept (0600) in the data directory, so restarts keep working."""
        path = data_dir / "demo-admin.json"
        if path.exists():
            stored = json.loads(path.read_text())
            return cls(stored["organizationId"], stored["email"], stored["password"])
        admin = cls(DEMO_ORG, DEMO_EMAIL, secrets.token_urlsafe(12))
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"organizationId": admin.organization_id, "email": admin.email, "password": admin.password}, f)
        return admin

    def export_to_identity(self) -> None:
        """The identity service creates this admin when it starts and finds no such user."""
        os.environ.setdefault("IOTMON_IDENTITY_BOOTSTRAP_ORG", self.organization_id)
        os.environ.setdefault("IOTMON_IDENTITY_BOOTSTRAP_ADMIN_EMAIL", self.email)
        os.environ.setdefault("IOTMON_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD", self.password)

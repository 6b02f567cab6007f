"""The `world` fixture: identity use cases on in-memory adapters, with a bootstrap admin already created."""

from __future__ import annotations

import pytest

from services.identity.adapters.memory import InMemoryUserRepository
from services.identity.domain.service import IdentityService
from tests.unit.identity.fakes import FakeIdentityProvider, RecordingUserEvents, SteppingClock
from tests.unit.identity.world import ORG, World


@pytest.fixture
async def world() -> World:
    users, provider, events = InMemoryUserRepository(), FakeIdentityProvider(), RecordingUserEvents()
    service = IdentityService(users, provider, events, SteppingClock())
    created = await service.ensure_admin(ORG, "Admin@Example.com", "admin-password", "Admin")
    assert created is not None
    events.published.clear()
    return World(service, users, provider, events, created.user)

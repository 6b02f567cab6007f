"""A real SMTP server (aiosmtpd) on a free port for the notification tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.smtp import SmtpInbox, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox

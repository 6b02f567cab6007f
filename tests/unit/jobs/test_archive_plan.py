"""The pure parts of archival: which days are due and where each one's file goes."""

from __future__ import annotations

import pytest

from services.telemetry.domain.archive import DAY_MS, archive_cutoff_ms, archive_key

MIDNIGHT = 20_000 * DAY_MS  # 2024-10-04T00:00Z


def test_the_cutoff_is_the_start_of_the_day_holding_now_minus_retention() -> None:
    now = MIDNIGHT + 5 * 3_600_000  # 05:00
    assert archive_cutoff_ms(now, 90) == MIDNIGHT - 90 * DAY_MS
    # A day is archived only once it is entirely older than the retention period.
    assert archive_cutoff_ms(MIDNIGHT - 1, 1) == MIDNIGHT - 2 * DAY_MS
    assert archive_cutoff_ms(now, 0.5) == MIDNIGHT - DAY_MS


def test_keys_are_partitioned_by_organization_and_utc_day() -> None:
    assert archive_key("org-demo", MIDNIGHT + 123) == "archive/telemetry/org_org-demo/day_2024-10-04/readings.parquet"
    assert archive_key("org-demo", MIDNIGHT - 1).endswith("day_2024-10-03/readings.parquet")


@pytest.mark.parametrize("organization", ["org/a", "..", "org a", "org=a", ""])
def test_an_organization_the_object_store_cannot_name_is_refused(organization: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of an object key"):
        archive_key(organization, MIDNIGHT)

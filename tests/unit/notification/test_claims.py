from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.notification.domain.claims import Verdict, verdict
from services.notification.domain.model import Channel, Delivery, DeliveryStatus
from tests.unit.notification.support import T0

ME, OTHER = "worker-a", "worker-b"
ROW = Delivery("dlv-1", "alert-1", "org-1", "user-1", Channel.EMAIL, "", DeliveryStatus.PENDING, T0)
CLAIMED = replace(ROW, owner=OTHER, claim_token="t1", attempts=1, lease_until=T0 + timedelta(seconds=60))


def judge(row: Delivery, now_offset: float = 0, in_flight: tuple[str, ...] = ()) -> Verdict:
    return verdict(row, owner=ME, in_flight=in_flight, now=T0 + timedelta(seconds=now_offset), max_attempts=3)


@pytest.mark.parametrize("status", [DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED])
def test_final_rows_are_never_sent_again(status: DeliveryStatus) -> None:
    assert judge(replace(CLAIMED, status=status)) is Verdict.DONE


def test_a_new_row_is_taken() -> None:
    assert judge(ROW) is Verdict.TAKE


def test_a_live_claim_of_another_worker_is_waited_for() -> None:
    assert judge(CLAIMED, now_offset=59) is Verdict.WAIT


def test_an_expired_claim_is_taken_over() -> None:
    assert judge(CLAIMED, now_offset=60) is Verdict.TAKE


def test_an_expired_claim_out_of_attempts_is_given_up() -> None:
    assert judge(replace(CLAIMED, attempts=3), now_offset=61) is Verdict.DONE


def test_a_worker_takes_back_its_own_pending_row_left_by_a_crash_at_once() -> None:
    mine = replace(CLAIMED, owner=ME)
    assert judge(mine, now_offset=1) is Verdict.TAKE
    assert judge(mine, now_offset=1, in_flight=("dlv-1",)) is Verdict.WAIT


def test_failed_rows_are_retried_only_when_retryable_and_attempts_remain() -> None:
    failed = replace(CLAIMED, status=DeliveryStatus.FAILED, retryable=True)
    assert judge(failed) is Verdict.TAKE
    assert judge(replace(failed, attempts=3)) is Verdict.DONE
    assert judge(replace(failed, retryable=False)) is Verdict.DONE


def test_a_handed_over_row_left_behind_is_confirmed_not_resent() -> None:
    handed = replace(CLAIMED, handed_over_at=T0)
    assert judge(handed, now_offset=61) is Verdict.CONFIRM
    assert judge(replace(handed, owner=ME), now_offset=1) is Verdict.CONFIRM
    # ... but not while its claim is alive: the sender is still waiting for the server's answer.
    assert judge(handed, now_offset=1) is Verdict.WAIT
    assert judge(replace(handed, owner=ME), in_flight=("dlv-1",)) is Verdict.WAIT

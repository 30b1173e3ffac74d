"""timing: when to poll again and when to retry a delivery, with a fixed clock and jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feedwatch.config import RetrySpec
from feedwatch.timing import next_attempt_at, next_poll_at, parse_retry_after, retry_delay

NOW = datetime(2023, 8, 7, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
DAY = timedelta(days=1)
RETRY = RetrySpec()  # first 30s, max 1h, give_up 24h


# --- next_poll_at -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "failures", "expected"),
    [
        pytest.param(15 * M, 0, 15 * M, id="healthy"),
        pytest.param(15 * M, 1, 15 * M, id="first-failure"),
        pytest.param(15 * M, 2, 30 * M, id="second-failure-doubles"),
        pytest.param(15 * M, 3, 60 * M, id="third-failure-doubles-again"),
        pytest.param(15 * M, 7, 16 * H, id="seventh-failure"),
        pytest.param(15 * M, 8, DAY, id="capped-at-a-day"),
        pytest.param(15 * M, 500, DAY, id="many-failures-capped"),
        pytest.param(2 * DAY, 3, 2 * DAY, id="interval-longer-than-a-day"),
    ],
)
def test_next_poll_backoff(interval: timedelta, failures: int, expected: timedelta) -> None:
    assert next_poll_at(NOW, interval, failures) == NOW + expected


@pytest.mark.parametrize(
    ("failures", "jitter"),
    [
        pytest.param(0, 0.0, id="no-jitter"),
        pytest.param(0, 0.5, id="half"),
        pytest.param(0, 0.999999, id="almost-one"),
        pytest.param(4, 0.999999, id="backoff-almost-one"),
        pytest.param(100, 0.999999, id="capped-almost-one"),
    ],
)
def test_next_poll_jitter_only_shortens_by_up_to_ten_percent(failures: int, jitter: float) -> None:
    unjittered = next_poll_at(NOW, 15 * M, failures) - NOW
    delay = next_poll_at(NOW, 15 * M, failures, jitter=jitter) - NOW
    assert unjittered * 0.9 <= delay <= unjittered
    assert delay == unjittered - unjittered * 0.1 * jitter


@pytest.mark.parametrize(
    ("failures", "retry_after", "expected"),
    [
        pytest.param(0, 2 * H, 2 * H, id="longer-than-interval-honoured"),
        pytest.param(1, 3 * H, 3 * H, id="longer-than-backoff-honoured"),
        pytest.param(0, 5 * M, 15 * M, id="shorter-than-interval-ignored"),
        pytest.param(3, 10 * M, 60 * M, id="shorter-than-backoff-ignored"),
        pytest.param(0, 20 * H, 20 * H, id="almost-a-day"),
    ],
)
def test_next_poll_retry_after(failures: int, retry_after: timedelta, expected: timedelta) -> None:
    at = next_poll_at(NOW, 15 * M, failures, jitter=0.0, retry_after=retry_after)
    assert at == NOW + expected


def test_next_poll_retry_after_never_shortened_by_jitter() -> None:
    at = next_poll_at(NOW, 15 * M, 0, jitter=0.999, retry_after=2 * H)
    assert at >= NOW + 2 * H


# --- retry_delay --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "retry", "expected"),
    [
        pytest.param(0, RETRY, 30 * S, id="no-attempt-yet"),
        pytest.param(1, RETRY, 30 * S, id="first"),
        pytest.param(2, RETRY, 60 * S, id="doubles"),
        pytest.param(3, RETRY, 120 * S, id="doubles-again"),
        pytest.param(7, RETRY, 32 * M, id="seventh"),
        pytest.param(8, RETRY, H, id="capped-at-max"),
        pytest.param(200, RETRY, H, id="many-capped"),
        pytest.param(1, RetrySpec(first=5 * S, max=12 * S), 5 * S, id="custom-first"),
        pytest.param(2, RetrySpec(first=5 * S, max=12 * S), 10 * S, id="custom-double"),
        pytest.param(3, RetrySpec(first=5 * S, max=12 * S), 12 * S, id="custom-max"),
    ],
)
def test_retry_delay(attempts: int, retry: RetrySpec, expected: timedelta) -> None:
    assert retry_delay(attempts, retry) == expected


@pytest.mark.parametrize(
    ("attempts", "jitter"),
    [
        pytest.param(1, 0.5, id="first-half"),
        pytest.param(1, 0.999999, id="first-almost-one"),
        pytest.param(5, 0.25, id="fifth"),
        pytest.param(50, 0.999999, id="capped-almost-one"),
    ],
)
def test_retry_jitter_only_shortens_by_up_to_ten_percent(attempts: int, jitter: float) -> None:
    full = retry_delay(attempts, RETRY)
    jittered = retry_delay(attempts, RETRY, jitter)
    assert full * 0.9 <= jittered < full


# --- next_attempt_at ----------------------------------------------------------------------

DEADLINE = NOW + RETRY.give_up
# the last try is scheduled 10 s before give_up, so a pass that runs late still starts in time
LAST_TRY = DEADLINE - 10 * S


@pytest.mark.parametrize(
    ("now", "attempts", "not_before", "expected"),
    [
        pytest.param(NOW, 1, None, NOW + 30 * S, id="right-after-first-try"),
        pytest.param(NOW + 10 * H, 20, None, NOW + 11 * H, id="capped-wait"),
        pytest.param(DEADLINE - H, 20, None, LAST_TRY, id="wait-ending-at-deadline-is-cut"),
        pytest.param(DEADLINE - 10 * M, 20, None, LAST_TRY, id="last-try-just-before-deadline"),
        pytest.param(DEADLINE - 11 * S, 1, None, LAST_TRY, id="eleven-seconds-left"),
        pytest.param(DEADLINE - S, 1, None, None, id="inside-last-margin-gives-up"),
        pytest.param(DEADLINE, 21, None, None, id="at-deadline-gives-up"),
        pytest.param(DEADLINE + H, 22, None, None, id="past-deadline-gives-up"),
        pytest.param(NOW, 1, 2 * H, NOW + 2 * H, id="retry-after-honoured"),
        pytest.param(NOW, 1, 10 * S, NOW + 30 * S, id="short-retry-after-ignored"),
        pytest.param(DEADLINE - H, 5, 2 * H, None, id="retry-after-past-deadline-gives-up"),
    ],
)
def test_next_attempt_at(
    now: datetime, attempts: int, not_before: timedelta | None, expected: datetime | None
) -> None:
    got = next_attempt_at(NOW, attempts, RETRY, now, jitter=0.0, not_before=not_before)
    assert got == expected


def test_next_attempt_never_after_give_up() -> None:
    created = NOW
    now = NOW
    attempts = 0
    tries = []
    while (at := next_attempt_at(created, attempts + 1, RETRY, now, jitter=0.7)) is not None:
        assert now < at <= DEADLINE
        tries.append(at)
        now, attempts = at, attempts + 1
    assert tries[-1] == LAST_TRY
    assert 20 < len(tries) < 40


# --- parse_retry_after --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120 * S, id="seconds"),
        pytest.param(" 7 ", 7 * S, id="seconds-with-spaces"),
        pytest.param("0", timedelta(0), id="zero"),
        pytest.param("Mon, 07 Aug 2023 12:01:30 GMT", 90 * S, id="http-date"),
        pytest.param("Mon, 07 Aug 2023 14:01:30 +0200", 90 * S, id="date-with-offset"),
        pytest.param("Mon, 07 Aug 2023 11:00:00 GMT", timedelta(0), id="date-in-the-past"),
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("-5", None, id="negative"),
    ],
)
def test_parse_retry_after(value: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_huge_number_does_not_raise() -> None:
    result = parse_retry_after("99999999999999999999", NOW)
    assert result is None or result >= DAY


def test_next_attempt_huge_retry_after_gives_up() -> None:
    not_before = parse_retry_after("1000000000000", NOW)  # about 31,700 years
    assert not_before is not None
    assert next_attempt_at(NOW, 1, RETRY, NOW, not_before=not_before) is None

"""When to poll a feed next, and when to try a delivery again.

Pure: every function takes ``now`` and, where it jitters, a random fraction in [0, 1), so
tests can fix both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from feedwatch.config import RetrySpec

MAX_BACKOFF = timedelta(days=1)
# a hostile or broken server must not push a time past what datetime can hold
MAX_RETRY_AFTER = timedelta(days=365)
POLL_JITTER = 0.1
RETRY_JITTER = 0.1


def next_poll_at(
    now: datetime,
    interval: timedelta,
    failures: int = 0,
    jitter: float = 0.0,
    retry_after: timedelta | None = None,
) -> datetime:
    """The next poll: the interval, shortened by up to 10% so feeds drift apart; after
    failures, doubling waits up to a day; the server's Retry-After is honoured up to that same
    cap (a day, or the interval if longer), so no server can silence a feed for longer."""
    if failures > 0:
        cap = max(MAX_BACKOFF, interval)
        delay = min(interval * (1 << min(failures - 1, 20)), cap)
    else:
        delay = interval
    delay -= delay * POLL_JITTER * jitter
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, max(MAX_BACKOFF, interval))
    return now + delay


MAX_HINTED_INTERVAL = timedelta(days=1)
LAST_TRY_MARGIN = timedelta(seconds=10)


def polite_interval(
    configured: timedelta, feed_hint: int | None = None, max_age: int | None = None
) -> timedelta:
    """The interval to use: a feed's own hints (RSS ttl, sy:updatePeriod, Cache-Control
    max-age) may lengthen the configured one, up to a day, but never shorten it (issue 4)."""
    hints = [timedelta(seconds=h) for h in (feed_hint, max_age) if h]
    if not hints:
        return configured
    return max(configured, min(max(hints), max(MAX_HINTED_INTERVAL, configured)))


def adopt_redirect(
    previous_target: str | None, previous_count: int, target: str | None
) -> tuple[str | None, int, bool]:
    """Track a permanent redirect; adopt its target once seen twice in a row (issue 4).

    Returns the target to remember, how many polls in a row it was seen, and whether the
    feed should now be polled at the target."""
    if target is None:
        return None, 0, False
    count = previous_count + 1 if target == previous_target else 1
    return target, count, count >= 2


def retry_delay(attempts: int, retry: RetrySpec, jitter: float = 0.0) -> timedelta:
    """The wait after the ``attempts``-th failed try: first, doubled each time, capped at max,
    shortened (never lengthened) by up to 10% (SPEC: retry)."""
    delay = retry.first * (1 << min(max(attempts - 1, 0), 30))
    delay = min(delay, retry.max)
    return delay - delay * RETRY_JITTER * jitter


def next_attempt_at(
    created_at: datetime,
    attempts: int,
    retry: RetrySpec,
    now: datetime,
    jitter: float = 0.0,
    not_before: timedelta | None = None,
) -> datetime | None:
    """When to try again after ``attempts`` failed tries; None once ``give_up`` has passed.

    A wait that would end past ``give_up`` is cut to a last try at ``give_up`` itself.
    ``not_before`` is a server's Retry-After: honoured, and past ``give_up`` it means give up.
    """
    deadline = created_at + retry.give_up
    delay = retry_delay(attempts, retry, jitter)
    if not_before is not None and not_before > delay:
        return now + not_before if not_before <= deadline - now else None
    at = now + delay
    # one last try just before the deadline rather than giving up early; a little before it,
    # so that a delivery pass that runs a few seconds late still starts within the window
    last_try = deadline - min(LAST_TRY_MARGIN, retry.give_up / 10)
    if at <= last_try:
        return at
    return last_try if now < last_try else None


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a wait from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value[:12])), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def digest_due_at(now: datetime, period: timedelta) -> datetime:
    """The end of the digest period ``now`` falls in; periods are aligned to the Unix epoch
    (``1h`` closes on the hour), so the schedule survives restarts."""
    step = period.total_seconds()
    start = (now.timestamp() // step) * step
    return datetime.fromtimestamp(start + step, tz=UTC)

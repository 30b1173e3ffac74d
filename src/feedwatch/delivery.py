"""Sending due alerts: claim, send, record, and schedule the retry.

Orchestration: a delivery is marked sent only after its notifier returned, so a crash at any
moment means at worst one repeat, with the same webhook-id or Message-ID (SPEC: delivery).
A notifier that fails is logged once when it starts failing and once when it recovers, not
on every retry (issue 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from feedwatch.config import RetrySpec
from feedwatch.errors import DeliveryError, StoreError
from feedwatch.models import Delivery, DeliveryOutcome, DeliveryStatus
from feedwatch.notify import DigestNotifier, Notifier, RetryLater
from feedwatch.timing import next_attempt_at, parse_retry_after

log = logging.getLogger("feedwatch.deliver")
BATCH = 50
DIGEST_BATCH = 500


class DeliveryStore(Protocol):
    """What delivery needs of the database."""

    def due_deliveries(
        self, now: datetime, notifiers: Sequence[str], limit: int = 100
    ) -> list[Delivery]:
        """Due pending deliveries."""
        ...  # pragma: no cover

    def claim(self, delivery_id: int, now: datetime, lease_until: datetime) -> bool:
        """Take one for an attempt."""
        ...  # pragma: no cover

    def record_attempt(self, outcome: DeliveryOutcome, now: datetime) -> None:
        """Record what the attempt did."""
        ...  # pragma: no cover

    def note_notifier(self, name: str, now: datetime, error: str | None) -> bool:
        """Record a notifier's health; True when it changed (began failing, or recovered)."""
        ...  # pragma: no cover


@dataclass(frozen=True)
class Route:
    """A notifier, its retry schedule, and its digest period if it sends digests."""

    notifier: Notifier
    retry: RetrySpec
    digest: timedelta | None = None


async def deliver_due(
    store: DeliveryStore,
    route: Route,
    clock: Callable[[], datetime],
    jitter: Callable[[], float],
) -> list[DeliveryOutcome]:
    """Send what is due to one notifier, oldest first. A transient failure ends the pass, so
    a notifier that is down gets one try per pass rather than one per waiting alert."""
    if route.digest is not None:
        return await _deliver_digest(store, route, clock, jitter)
    outcomes: list[DeliveryOutcome] = []
    while True:
        due = store.due_deliveries(clock(), [route.notifier.name], BATCH)
        for delivery in due:
            outcome = await deliver_one(store, route, delivery, clock, jitter)
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.status is DeliveryStatus.PENDING:
                return outcomes
        if len(due) < BATCH:
            return outcomes


async def deliver_one(
    store: DeliveryStore,
    route: Route,
    delivery: Delivery,
    clock: Callable[[], datetime],
    jitter: Callable[[], float],
) -> DeliveryOutcome | None:
    """One attempt at one delivery; None if another process claimed it first."""
    outcomes = await _attempt(store, route, [delivery], clock, jitter)
    return outcomes[0] if outcomes else None


async def _deliver_digest(
    store: DeliveryStore,
    route: Route,
    clock: Callable[[], datetime],
    jitter: Callable[[], float],
) -> list[DeliveryOutcome]:
    due = store.due_deliveries(clock(), [route.notifier.name], DIGEST_BATCH)
    if not due:
        return []
    return await _attempt(store, route, due, clock, jitter)


async def _attempt(
    store: DeliveryStore,
    route: Route,
    deliveries: Sequence[Delivery],
    clock: Callable[[], datetime],
    jitter: Callable[[], float],
) -> list[DeliveryOutcome]:
    """Claim, send (one message, or one digest of them all), record."""
    notifier = route.notifier
    now = clock()
    outcomes: list[DeliveryOutcome] = []
    claimed: list[Delivery] = []
    lease_until = now + timedelta(seconds=notifier.lease_seconds)
    for delivery in deliveries:
        if now > delivery.queued_at + route.retry.give_up:
            tries = "1 attempt" if delivery.attempts == 1 else f"{delivery.attempts} attempts"
            reason = f"gave up after {tries}"
            if delivery.last_error:
                reason += f"; last error: {delivery.last_error}"
            outcome = _outcome(delivery, DeliveryStatus.FAILED, reason)
            _record(store, outcome, now)
            outcomes.append(outcome)
        elif store.claim(delivery.id, now, lease_until):
            claimed.append(delivery)
    if not claimed:
        return outcomes
    alerts = [d.alert for d in claimed]
    try:
        if route.digest is not None and isinstance(notifier, DigestNotifier):
            await notifier.send_digest(alerts)
        else:
            await notifier.send(alerts[0])
    except DeliveryError as e:
        error: DeliveryError | None = e
    else:
        error = None
    now = clock()
    fraction = jitter()
    for delivery in claimed:
        if error is None:
            outcome = _outcome(delivery, DeliveryStatus.SENT)
            log.info("delivered alert=%s notifier=%s", delivery.alert.id, notifier.name)
        else:
            outcome = _failure(route, delivery, error, now, fraction)
        _record(store, outcome, now)
        outcomes.append(outcome)
    _note_health(store, notifier.name, now, error, len(claimed))
    return outcomes


def _record(store: DeliveryStore, outcome: DeliveryOutcome, now: datetime) -> None:
    try:
        store.record_attempt(outcome, now)
    except StoreError as e:
        log.error("cannot record delivery alert=%s error=%s", outcome.alert_id, e)


def _note_health(
    store: DeliveryStore, name: str, now: datetime, error: DeliveryError | None, count: int
) -> None:
    try:
        changed = store.note_notifier(name, now, error.message if error else None)
    except StoreError as e:
        log.error("cannot record notifier health notifier=%s error=%s", name, e)
        return
    if not changed:
        if error is not None:
            log.debug("delivery failed again notifier=%s error=%s", name, error.message)
        return
    if error is None:
        log.info("notifier recovered notifier=%s", name)
    else:
        log.warning(
            "notifier failing notifier=%s error=%s (retrying; logged again when it recovers)",
            name, error.message,
        )  # fmt: skip


def _failure(
    route: Route, delivery: Delivery, error: DeliveryError, now: datetime, jitter: float
) -> DeliveryOutcome:
    attempts = delivery.attempts + 1
    next_at = None
    if error.transient:
        hint = parse_retry_after(error.retry_after, now) if isinstance(error, RetryLater) else None
        next_at = next_attempt_at(delivery.queued_at, attempts, route.retry, now, jitter, hint)
    if next_at is None:
        log.error(
            "delivery failed for good alert=%s notifier=%s attempts=%d error=%s",
            delivery.alert.id, route.notifier.name, attempts, error.message,
        )  # fmt: skip
        return _outcome(delivery, DeliveryStatus.FAILED, error.message)
    return _outcome(delivery, DeliveryStatus.PENDING, error.message, next_at)


def _outcome(
    delivery: Delivery,
    status: DeliveryStatus,
    error: str | None = None,
    next_at: datetime | None = None,
) -> DeliveryOutcome:
    return DeliveryOutcome(
        delivery_id=delivery.id,
        notifier=delivery.notifier,
        alert_id=delivery.alert.id,
        status=status,
        error=error,
        next_attempt_at=next_at,
    )

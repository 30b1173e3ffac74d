"""Sending due alerts: claim, send, record, and schedule the retry.

Orchestration: a delivery is marked sent only after its notifier returned, so a crash at any
moment means at worst one repeat, with the same webhook-id or Message-ID (SPEC: delivery).
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
from feedwatch.notify import Notifier, RetryLater
from feedwatch.timing import next_attempt_at, parse_retry_after

log = logging.getLogger("feedwatch.deliver")
BATCH = 50


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


@dataclass(frozen=True)
class Route:
    """A notifier and its retry schedule."""

    notifier: Notifier
    retry: RetrySpec


async def deliver_due(
    store: DeliveryStore,
    route: Route,
    clock: Callable[[], datetime],
    jitter: Callable[[], float],
) -> list[DeliveryOutcome]:
    """Send every delivery due to one notifier, oldest first, until none is due."""
    outcomes: list[DeliveryOutcome] = []
    while True:
        due = store.due_deliveries(clock(), [route.notifier.name], BATCH)
        if not due:
            return outcomes
        for delivery in due:
            outcome = await deliver_one(store, route, delivery, clock, jitter)
            if outcome is not None:
                outcomes.append(outcome)
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
    notifier = route.notifier
    now = clock()
    if now > delivery.queued_at + route.retry.give_up:
        outcome = _outcome(delivery, DeliveryStatus.FAILED, "gave up: retry window passed")
        store.record_attempt(outcome, now)
        return outcome
    if not store.claim(delivery.id, now, now + timedelta(seconds=notifier.lease_seconds)):
        return None
    try:
        await notifier.send(delivery.alert)
    except DeliveryError as e:
        outcome = _failure(route, delivery, e, clock(), jitter())
    else:
        outcome = _outcome(delivery, DeliveryStatus.SENT)
        log.info("delivered alert=%s notifier=%s", delivery.alert.id, notifier.name)
    try:
        store.record_attempt(outcome, clock())
    except StoreError as e:
        log.error("cannot record delivery alert=%s error=%s", delivery.alert.id, e)
    return outcome


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
    log.warning(
        "delivery failed alert=%s notifier=%s attempts=%d retry_at=%s error=%s",
        delivery.alert.id, route.notifier.name, attempts, next_at.isoformat(), error.message,
    )  # fmt: skip
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

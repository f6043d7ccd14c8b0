"""The circuit breaker per endpoint (docs/contract.md §7 "Circuit breaker"): before an attempt, may it go;
after it, what it says about the endpoint. The state lives in Postgres (storage/callback_endpoints.py), so
every dispatcher shares it and a killed one loses nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog

from storage.callback_endpoints import EndpointStore
from storage.callback_queue import Claimed, DeliveryStore
from streams.callbacks import metrics
from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.policy import classify
from streams.settings import CallbackSettings

log = structlog.get_logger(__name__)

ENDPOINT_DISABLED = "endpoint_disabled"
# Deliveries other than the probe wait this many open periods at most; the endpoint closing (or being
# disabled) wakes them at once, so the horizon only bounds a lost probe (its job deleted meanwhile), and
# keeps re-claiming a dead endpoint's backlog to once per horizon instead of once per probe.
PARK_PERIODS = 10
# A dispatcher parks an open endpoint's due backlog at most this often (each pass scans its pending rows).
PARK_DUE_EVERY_S = 1.0
MAX_REMEMBERED = 10_000

Signal = Literal["success", "failure"]


@dataclass(frozen=True)
class Send:
    """Make the attempt; `probe`: it is the half-open probe, and a failure costs the delivery no attempt."""

    probe: bool = False


@dataclass(frozen=True)
class Defer:
    """Not now: due again at `until`, attempts untouched."""

    until: datetime


@dataclass(frozen=True)
class Disabled:
    """The endpoint is disabled: the delivery ends with ENDPOINT_DISABLED, nothing is sent."""


Gate = Send | Defer | Disabled


def signal(outcome: AttemptOutcome) -> Signal | None:
    """What an attempt says about its endpoint: any answer but a retriable status shows it works (a 404
    is the receiver's verdict on this delivery, not an outage); network errors, timeouts, 408, 429 and
    5xx count against it; a blocked URL never left the process and says nothing."""
    if outcome.blocked:
        return None
    if outcome.succeeded:
        return "success"
    retriable, _ = classify(outcome)
    return "failure" if retriable else "success"


class Breaker:
    """One deployment's breakers, as a dispatcher uses them."""

    def __init__(self, endpoints: EndpointStore, deliveries: DeliveryStore, settings: CallbackSettings):
        self.endpoints = endpoints
        self.deliveries = deliveries
        self.settings = settings
        self._parked_at: dict[str, float] = {}  # endpoint -> monotonic time of its last backlog parking

    async def admit(self, delivery: Claimed, probe_lease_s: float) -> Gate:
        """The gate for a claimed delivery. Only deliveries whose endpoint was tripped when claimed ask
        Postgres; the rest go (a breaker opening meanwhile lets those few through, as any breaker does)."""
        if delivery.endpoint is None or delivery.endpoint_state in (None, "closed"):
            return Send()
        admission = await self.endpoints.admit(delivery.endpoint, delivery.event_id, probe_lease_s)
        if admission is None or admission.state == "closed":
            return Send()
        if admission.state == "disabled":
            metrics.BREAKER_DECISIONS.labels(ENDPOINT_DISABLED).inc()
            return Disabled()
        if admission.state == "half_open" and admission.mine:
            metrics.BREAKER_DECISIONS.labels("probe").inc()
            log.info("callback.probe", endpoint=delivery.endpoint, event_id=delivery.event_id)
            return Send(probe=True)
        metrics.BREAKER_DECISIONS.labels("deferred").inc()
        if admission.mine and admission.next_probe_at is not None:  # the next probe: due when it is
            return Defer(admission.next_probe_at)
        until = datetime.now(UTC) + timedelta(seconds=self.settings.breaker_open_s * PARK_PERIODS)
        await self._park_backlog(delivery.endpoint, until)
        return Defer(until)

    async def _park_backlog(self, endpoint: str, until: datetime) -> None:
        now = time.monotonic()
        if now - self._parked_at.get(endpoint, -PARK_DUE_EVERY_S) < PARK_DUE_EVERY_S:
            return
        if len(self._parked_at) >= MAX_REMEMBERED:
            self._parked_at.clear()
        self._parked_at[endpoint] = now
        parked = await self.deliveries.park_due(endpoint, until)
        if parked:
            metrics.BREAKER_DECISIONS.labels("deferred").inc(parked)
            log.info("callback.backlog_parked", endpoint=endpoint, deliveries=parked, until=until.isoformat())

    async def report(self, delivery: Claimed, outcome: AttemptOutcome) -> datetime | Disabled | None:
        """Count the attempt for its endpoint. Returns Disabled if this failure disabled it (or it already
        was), else the next probe time while open (None: closed or no breaker)."""
        said = signal(outcome)
        if delivery.endpoint is None or delivery.host is None or said is None:
            return None
        if said == "success":
            former = await self.endpoints.succeeded(delivery.endpoint)
            if former in ("open", "half_open"):
                woken = await self.deliveries.wake(delivery.endpoint)
                metrics.BREAKER_TRANSITIONS.labels("closed").inc()
                log.info("callback.endpoint_closed", endpoint=delivery.endpoint, woken=woken)
            return None
        _, reason = classify(outcome)
        failure = await self.endpoints.failed(
            delivery.endpoint,
            delivery.host,
            delivery.event_id,
            failures_to_open=self.settings.breaker_failures,
            open_s=self.settings.breaker_open_s,
            disable_after_s=self.settings.disable_after_s,
            error=reason[:500],
        )
        if failure.opened:
            metrics.BREAKER_TRANSITIONS.labels("open").inc()
            log.warning(
                "callback.endpoint_opened",
                endpoint=delivery.endpoint,
                error=reason,
                next_probe_at=str(failure.next_probe_at),
            )
        if failure.disabled:
            woken = await self.deliveries.wake(delivery.endpoint)  # so each ends with its outcome now
            metrics.BREAKER_TRANSITIONS.labels("disabled").inc()
            log.warning(
                "callback.endpoint_disabled",
                endpoint=delivery.endpoint,
                error=reason,
                pending=woken,
                hint="`jobstream callbacks enable ENDPOINT` once it works again",
            )
        if failure.state == "disabled":
            return Disabled()
        return failure.next_probe_at if failure.state in ("open", "half_open") else None

    async def refresh_gauge(self) -> None:
        for state, count in (await self.endpoints.counts()).items():
            metrics.ENDPOINTS.labels(state).set(count)

    async def enable(self, target: str) -> list[tuple[str, str]]:
        """Forget the breaker of an endpoint key or a host and wake its held deliveries."""
        enabled = await self.endpoints.enable(target)
        for endpoint, _ in enabled:
            await self.deliveries.wake(endpoint)
        return list(enabled)

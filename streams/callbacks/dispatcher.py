"""The delivery loop: claim due rows under a lease, send each in its own task, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import faust
import structlog
from mode import Service

from storage.callback_endpoints import EndpointStore
from storage.callback_queue import Claimed, DeliveryStore, FinalState
from streams import tracing
from streams.callbacks import metrics
from streams.callbacks.breaker import ENDPOINT_DISABLED, Breaker, Defer, Disabled, signal
from streams.callbacks.outcome import AttemptOutcome
from streams.callbacks.policy import DeliveryFailed, RetryAt, classify, judge_attempt
from streams.callbacks.record import record_callback_command
from streams.callbacks.sender import CallbackRequest, CallbackSender, HttpxCallbackSender
from streams.kafka.producer import json_record
from streams.kafka.runtime import Runtime
from streams.retry import Backoff, Uniform, retry
from streams.settings import CallbackSettings, Settings

log = structlog.get_logger(__name__)

MAX_IN_FLIGHT = 64
POLL_INTERVAL_S = 0.2
# Beyond the attempt's own timeout: time to publish the record and update the row. A worker that
# dies mid-attempt leaves its rows leased; they become due again this long after the claim.
LEASE_MARGIN_S = 10.0
SETTLE_BACKOFF = Backoff(base_s=0.1, cap_s=2.0)
RELEASE_TIMEOUT_S = 2.0
STOP_GRACE_S = 2.0
GAUGE_INTERVAL_S = 5.0


class CallbackDispatcher(Service):
    """Runs on every worker; SKIP LOCKED shares the due rows between them.

    Each attempt has its own task and a bounded number run at once, so a slow or dead endpoint
    occupies one slot while the others keep flowing. Delivery is at least once: receivers
    de-duplicate on webhook-id, which is the same on every attempt.
    """

    def __init__(
        self,
        runtime: Runtime,
        settings: Settings,
        callbacks: CallbackSettings,
        *,
        sender: CallbackSender | None = None,
        rng: Uniform | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        poll_interval_s: float = POLL_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.callbacks = callbacks
        self.sender = sender if sender is not None else HttpxCallbackSender(callbacks)
        self.rng = rng if rng is not None else random.Random()
        self.max_in_flight = max_in_flight
        self.poll_interval_s = poll_interval_s
        self.lease_s = callbacks.timeout_s + LEASE_MARGIN_S
        self._store: DeliveryStore | None = None
        self._breaker: Breaker | None = None
        self._in_flight: dict[str, tuple[Claimed, asyncio.Task[None]]] = {}
        self._slot_freed = asyncio.Event()
        super().__init__(**kwargs)

    @Service.task
    async def _dispatch(self) -> None:
        await self.runtime.start()
        store = self._store = DeliveryStore(self.runtime.engine, self.settings.deployment)
        self._breaker = Breaker(
            EndpointStore(self.runtime.engine, self.settings.deployment), store, self.callbacks
        )
        log.info("callbacks.dispatcher_started", settings=repr(self.callbacks), lease_s=self.lease_s)
        while not self.should_stop:
            self._slot_freed.clear()  # before claiming, so a slot freed meanwhile still wakes us
            free = self.max_in_flight - len(self._in_flight)
            if free > 0:
                try:
                    claimed = await store.claim(free, self.lease_s, exclude=list(self._in_flight))
                except Exception as exc:  # Postgres down: poll again; nothing was leased
                    log.warning("callbacks.claim_failed", error=f"{type(exc).__name__}: {exc}")
                    claimed = []
                if self.should_stop:  # stopping began during the claim: hand these back too
                    await self._release(claimed)
                    break
                for delivery in claimed:
                    self._start(store, delivery)
            with contextlib.suppress(TimeoutError):  # woken early when an attempt frees its slot
                await asyncio.wait_for(self._slot_freed.wait(), self.poll_interval_s)

    @Service.timer(GAUGE_INTERVAL_S)
    async def _count_endpoints(self) -> None:
        if self._breaker is None:
            return
        try:
            await self._breaker.refresh_gauge()
        except Exception as exc:  # Postgres down: the gauge keeps its last value
            log.warning("callbacks.endpoint_count_failed", error=f"{type(exc).__name__}: {exc}")

    async def on_stop(self) -> None:
        """Let attempts in progress finish briefly, then cancel the rest and hand their rows back, so
        another worker (or this one restarted) need not wait for their leases to run out."""
        running = list(self._in_flight.values())
        if running:
            await asyncio.wait([task for _, task in running], timeout=STOP_GRACE_S)
        cancelled = [(delivery, task) for delivery, task in running if not task.done()]
        for _, task in cancelled:
            task.cancel()
        await asyncio.gather(*(task for _, task in cancelled), return_exceptions=True)
        await self._release([delivery for delivery, _ in cancelled])

    async def _release(self, claimed: list[Claimed]) -> None:
        if not claimed or self._store is None:
            return
        try:
            await asyncio.wait_for(self._store.release(claimed), RELEASE_TIMEOUT_S)
        except Exception as exc:  # the leases run out on their own
            log.warning("callbacks.release_failed", error=f"{type(exc).__name__}: {exc}")
        else:
            log.info("callbacks.released", deliveries=len(claimed))

    def _start(self, store: DeliveryStore, delivery: Claimed) -> None:
        task = asyncio.create_task(self._attempt(store, delivery), name=f"callback:{delivery.event_id}")
        self._in_flight[delivery.event_id] = (delivery, task)
        metrics.IN_FLIGHT.inc()

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.pop(delivery.event_id, None)
            metrics.IN_FLIGHT.dec()
            self._slot_freed.set()

        task.add_done_callback(done)

    async def _attempt(self, store: DeliveryStore, delivery: Claimed) -> None:
        """One attempt, then its bookkeeping; if that cannot be stored, the lease expires and it repeats."""
        deadline = time.monotonic() + self.lease_s - 1.0
        attempt = delivery.attempts + 1
        context: dict[str, Any] = {
            "event_id": delivery.event_id,
            "job_id": delivery.job_id,
            "attempt": attempt,
        }
        breaker = self._breaker
        assert breaker is not None  # set before the first claim
        try:
            gate = await breaker.admit(delivery, self.lease_s)
        except Exception as exc:  # Postgres down: the lease brings the row back
            log.warning("callback.breaker_unavailable", error=f"{type(exc).__name__}: {exc}", **context)
            return
        try:
            if isinstance(gate, Defer):
                log.info(
                    "callback.deferred", endpoint=delivery.endpoint, until=gate.until.isoformat(), **context
                )
                await self._settle(lambda: store.defer(delivery, gate.until), deadline, context)
                return
            if isinstance(gate, Disabled):
                await self._end(
                    store, delivery, delivery.attempts, None, ENDPOINT_DISABLED, deadline, context
                )
                return
            sent_at = datetime.now(UTC)
            carried = tracing.mark("jobstream.callback.attempt", delivery.traceparent, job_id=delivery.job_id)
            request = CallbackRequest(
                delivery.url, delivery.event_id, delivery.payload, delivery.organization_id, carried
            )
            outcome = await self.sender.send(request)
            metrics.ATTEMPT_SECONDS.observe(outcome.elapsed_s)
            verdict = judge_attempt(attempt, outcome, self.callbacks, self.rng)
            context.update(status_code=outcome.status_code, elapsed_s=round(outcome.elapsed_s, 3))
            endpoint = await self._report(breaker, delivery, outcome, context)
            if isinstance(endpoint, Disabled) and isinstance(verdict, RetryAt):
                await self._end(
                    store,
                    delivery,
                    attempt,
                    outcome.status_code,
                    ENDPOINT_DISABLED,
                    deadline,
                    context,
                    sent_at,
                )
                return
            if gate.probe and isinstance(endpoint, datetime) and signal(outcome) == "failure":
                # A failed probe is the breaker's attempt, not the delivery's: it waits for the next one.
                _, reason = classify(outcome)
                delay_s = max(0.0, (endpoint - datetime.now(UTC)).total_seconds())
                metrics.ATTEMPTS.labels("retry").inc()
                log.info("callback.probe_failed", error=reason, retry_in_s=round(delay_s, 3), **context)
                await self._settle(
                    lambda: store.reschedule(
                        delivery, delivery.attempts, delay_s, outcome.status_code, f"{reason} (breaker probe)"
                    ),
                    deadline,
                    context,
                )
                return
            if isinstance(verdict, RetryAt):
                metrics.ATTEMPTS.labels("retry").inc()
                log.info(
                    "callback.retry_scheduled",
                    error=verdict.reason,
                    retry_in_s=round(verdict.delay_s, 3),
                    **context,
                )
                await self._settle(
                    lambda: store.reschedule(
                        delivery, attempt, verdict.delay_s, outcome.status_code, verdict.reason
                    ),
                    deadline,
                    context,
                )
                return
            error = verdict.reason if isinstance(verdict, DeliveryFailed) else None
            await self._end(store, delivery, attempt, outcome.status_code, error, deadline, context, sent_at)
        except Exception:  # a bug, not an outage: keep the loop alive; the lease brings the row back
            log.exception("callback.attempt_crashed", **context)

    async def _report(
        self, breaker: Breaker, delivery: Claimed, outcome: AttemptOutcome, context: dict[str, Any]
    ) -> datetime | Disabled | None:
        """The breaker's account of the attempt; if Postgres cannot take it, the attempt still settles."""
        try:
            return await breaker.report(delivery, outcome)
        except Exception as exc:
            log.warning("callback.breaker_unavailable", error=f"{type(exc).__name__}: {exc}", **context)
            return None

    async def _end(
        self,
        store: DeliveryStore,
        delivery: Claimed,
        attempts: int,
        status_code: int | None,
        error: str | None,
        deadline: float,
        context: dict[str, Any],
        sent_at: datetime | None = None,
    ) -> None:
        """The delivery's final outcome: recorded on the job, then the row closed."""
        state: FinalState = "delivered" if error is None else "failed"
        decision = {None: "delivered", ENDPOINT_DISABLED: ENDPOINT_DISABLED}.get(error, "gave_up")
        metrics.ATTEMPTS.labels(decision).inc()
        if error is None:
            log.info("callback.delivered", **context)
        else:
            log.warning("callback.gave_up", error=error, **context)
        command = record_callback_command(
            delivery,
            sent_at=sent_at if sent_at is not None else datetime.now(UTC),
            status_code=status_code,
            error=error,
            attempts=attempts,
        )
        await self._settle(
            lambda: self._close(store, delivery, command, attempts, state, status_code, error),
            deadline,
            context,
        )

    async def _close(
        self,
        store: DeliveryStore,
        delivery: Claimed,
        command: dict[str, Any],
        attempt: int,
        state: FinalState,
        status_code: int | None,
        error: str | None,
    ) -> bool:
        """Record first, then close the row: if the worker dies in between, the attempt repeats and
        the record is published again under the same command id, a duplicate (rule 7)."""
        await self.runtime.producer.send_all(
            [json_record(self.settings.topics.commands, delivery.job_id, command)]
        )
        return await store.finish(delivery, attempt, state, status_code, error)

    async def _settle(
        self, step: Callable[[], Awaitable[bool]], deadline: float, context: dict[str, Any]
    ) -> bool:
        """Store an attempt's outcome, retrying while the lease lasts (so a blip does not re-send)."""

        def in_lease(exc: Exception, tries: int) -> bool:  # even the longest wait ends before the lease
            return time.monotonic() + SETTLE_BACKOFF.ceiling(tries) < deadline

        try:
            kept = await retry(step, in_lease, SETTLE_BACKOFF, rng=self.rng)
        except Exception as exc:
            metrics.UNSETTLED.inc()
            log.warning(
                "callback.unsettled",
                error=f"{type(exc).__name__}: {exc}",
                hint="the lease will expire and the attempt will be made again",
                **context,
            )
            return False
        if not kept:
            log.warning("callback.lease_lost", hint="another worker re-claimed it after the lease", **context)
        return kept


def register(app: faust.App, runtime: Runtime, settings: Settings) -> CallbackDispatcher:
    """Read JOBSTREAM_CALLBACK_* now (a bad value stops the worker at startup) and start with the app."""
    dispatcher = CallbackDispatcher(runtime, settings, settings.callbacks)
    app.service(dispatcher)  # type: ignore[arg-type]  # Faust accepts instances too
    return dispatcher

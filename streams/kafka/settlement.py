"""How a batch of events gets its outcomes: outages retried, other failures bisected down to the events
that cause them, each of those settled on its own (rule 12)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import faust
import structlog

from streams import metrics
from streams.failures import describe, is_transient
from streams.kafka.deadletter import dead_letter
from streams.kafka.runtime import Runtime
from streams.retry import Backoff, retry

log = structlog.get_logger(__name__)
T = TypeVar("T")

OUTAGE_BACKOFF = Backoff(base_s=0.1, cap_s=5.0)
LEAF_ATTEMPTS = 3  # a record alone is tried this often before its failure counts as its own
LEAF_BACKOFF = Backoff(base_s=0.4, cap_s=5.0)  # between those tries: at most 0.4 s, then 0.8 s

Handler = Callable[[Sequence[faust.EventT]], Awaitable[None]]
# Settles one event that fails every time it is handled (with that error): a final outcome of its own.
GiveUp = Callable[[faust.EventT, Exception], Awaitable[None]]


@dataclass(frozen=True)
class Settlement:
    """How an agent gives every event an outcome.

    `handle` processes a batch. `give_up` settles one event that failed `LEAF_ATTEMPTS` times for
    something other than an outage (the command path stores an `internal_error` rejection); without
    one, or when it fails the same way, `last_resort` dead-letters the event, carrying its key and value
    if Kafka takes them and only their sizes and hashes otherwise, so that outcome cannot fail but for
    an outage.
    """

    handle: Handler
    give_up: GiveUp | None
    last_resort: GiveUp


async def settle(events: Sequence[faust.EventT], settlement: Settlement, name: str) -> None:
    """Handle the batch, retrying outages; a failure that is not one is bisected down to its events.

    Halves are handled in order, so each job's commands still apply in the order they were read, and a
    batch with one bad record costs about 2·log2(size) extra attempts, not a stalled partition.
    """
    attempt = functools.partial(_outlasting_outages, functools.partial(settlement.handle, events), name)
    try:
        if len(events) > 1:
            await attempt()
        else:  # one record: is it really its own failure?
            await retry(attempt, _always, LEAF_BACKOFF, LEAF_ATTEMPTS)
        return
    except Exception as exc:
        error = exc
    if len(events) > 1:
        log.warning(f"{name}.narrowing", error=describe(error), size=len(events))
        middle = len(events) // 2
        await settle(events[:middle], settlement, name)
        await settle(events[middle:], settlement, name)
        return
    await _settle_failed(events[0], error, settlement, name)


async def _settle_failed(event: faust.EventT, error: Exception, settlement: Settlement, name: str) -> None:
    message = event.message
    where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
    metrics.ISOLATED.labels(name).inc()
    log.error(
        f"{name}.isolated",
        error=describe(error),
        attempts=LEAF_ATTEMPTS,
        key=key_text(message.key),
        hint="this record fails on every attempt: it gets a final outcome and the partition goes on",
        exc_info=error,
        **where,
    )
    if settlement.give_up is not None:
        try:
            await _outlasting_outages(functools.partial(settlement.give_up, event, error), f"{name}.give_up")
            return
        except Exception as unrecordable:
            log.error(f"{name}.unrecordable", error=describe(unrecordable), **where)
            error = unrecordable
    await _outlasting_outages(
        functools.partial(settlement.last_resort, event, error), f"{name}.last_resort", _always
    )


async def _outlasting_outages(
    call: Callable[[], Awaitable[T]], name: str, retryable: Callable[[Exception], bool] = is_transient
) -> T:
    """Retry `call` while its failures are `retryable` (outages), within the retries such an error
    allows (`max_retries`: another worker's write); others are raised. Cancellation (a stopping
    worker) interrupts the wait at once."""

    def worth_retrying(exc: Exception, attempt: int) -> bool:
        limit = getattr(exc, "max_retries", None)  # an outage that says how long it can last
        return retryable(exc) and (limit is None or attempt <= limit)

    def note(exc: Exception, attempt: int, delay: float) -> None:
        metrics.BATCH_RETRIES.labels(type(exc).__name__).inc()
        log.warning(
            f"{name}.retry",
            error=describe(exc),
            attempt=attempt,
            retry_in_s=round(delay, 3),
            hint="an outage (Postgres or Kafka unreachable, a timeout, a conflicting worker): "
            "the partition waits and resumes when it is over",
            exc_info=attempt % 10 == 1,
        )

    return await retry(call, worth_retrying, OUTAGE_BACKOFF, on_retry=note)


def dead_letter_last_resort(runtime: Runtime, deadletter_topic: str) -> GiveUp:
    """The dead letter (code `internal_error`, the error as its message) that settles what nothing
    else could: with the record's key and value unchanged, or, if Kafka refuses that, without them."""

    async def last_resort(event: faust.EventT, error: Exception) -> None:
        reason = describe(error)
        try:
            await runtime.producer.send_all(
                [dead_letter(deadletter_topic, event.message, "internal_error", reason)]
            )
        except Exception as exc:
            if is_transient(exc):
                raise
            record = dead_letter(deadletter_topic, event.message, "internal_error", reason, carry=False)
            await runtime.producer.send_all([record])

    return last_resort


def _always(*_: object) -> bool:
    return True


def key_text(key: bytes | None) -> str | None:
    """A record key for a log line: at most 200 bytes of it, undecodable bytes replaced."""
    return None if key is None else key[:200].decode("utf-8", "replace")

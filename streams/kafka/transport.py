"""Faust's Kafka transport as the worker needs it: read_committed, and a bounded wait for work in flight."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Coroutine
from typing import Any, ClassVar

import aiokafka
import structlog
from faust.transport.consumer import CONSUMER_WAIT_EMPTY
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.transports import ConsumerT
from mode import Service

READ_COMMITTED = "read_committed"
# A fetch held for up to the app's `fetch_wait_ms` is answered early once this much has arrived: at
# saturation fetches still come back full at once, never waiting.
FETCH_MIN_BYTES = 64 * 1024
WAIT_EMPTY_GRACE_S = 10.0
log = structlog.get_logger(__name__)


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer reads with isolation.level=read_committed and
    lets the broker gather records for a few milliseconds.

    Faust passes `read_committed` only when its own processing guarantee is exactly_once (which would
    also make every write of the worker transactional); otherwise it reads uncommitted, so a command
    produced inside a transaction its producer then aborted would be applied. Faust builds the consumer
    with one long call and no hook for its arguments, so both are set on the built consumer, which
    aiokafka reads when `start()` creates its fetcher. One consumer serves every agent and the table's
    changelog recovery, so this covers them all.

    The fetch: Faust asks for the first byte (`fetch.min.bytes` 1), so the broker answers a fetch as soon
    as any record is there, and the consumer thread sends the next one: a fetch per produce request that
    arrives. At a tenth of capacity that thread held the GIL for a quarter of the worker's samples, mostly
    writing fetch requests (docs/benchmarks.md, seventh round). With the app's `fetch_wait_ms` (when not
    0; it is 0 by default) the broker holds a fetch until that much time has passed or `FETCH_MIN_BYTES`
    have arrived, so at most one fetch per node every `fetch_wait_ms`, whatever the producers' rate.
    """

    def _create_consumer(self, loop: asyncio.AbstractEventLoop) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_consumer(loop)
        wait_ms = getattr(self.app, "fetch_wait_ms", 0)
        needed = ("_isolation_level", "_fetch_min_bytes", "_fetch_max_wait_ms")[: 3 if wait_ms else 1]
        if missing := [name for name in needed if not hasattr(consumer, name)]:
            # A future aiokafka: never read uncommitted, nor ignore a fetch wait, silently. The fetch
            # attributes are required only when the wait is asked for.
            raise RuntimeError(
                f"aiokafka.AIOKafkaConsumer has no {missing}: update streams/kafka/transport.py"
            )
        consumer._isolation_level = READ_COMMITTED
        if wait_ms:
            consumer._fetch_min_bytes = FETCH_MIN_BYTES
            consumer._fetch_max_wait_ms = wait_ms
        return consumer


# What `wait_empty` below borrows from Faust's consumer (faust-streaming 0.15): a Faust without them
# stops the worker at import, never silently waits for ever again.
_FAUST_PARTS = ("_wait_for_ack", "_clean_unacked_messages", "commit", "commit_and_end_transactions")
if missing := [name for name in _FAUST_PARTS if not hasattr(faust_aiokafka.Consumer, name)]:
    raise RuntimeError(f"faust's Consumer lacks {missing}: update streams/kafka/transport.py")


class ReadCommittedConsumer(faust_aiokafka.Consumer):
    """Faust's consumer, reading read_committed, whose wait for events in flight is bounded.

    Before a rebalance and at shutdown Faust waits, with no limit, until every event in flight is acked.
    A batch retrying an outage holds its events unacked (nothing is committed before it is durable), so
    that wait made a retrying worker deaf to SIGTERM and held up rebalances. After the grace period the
    events still in flight stay uncommitted, and whoever owns their partition next processes them again:
    as duplicates where they were applied already (rules 7 and 11).
    """

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @Service.transitions_to(CONSUMER_WAIT_EMPTY)
    async def wait_empty(self) -> None:
        """Faust's loop (consumer.py `wait_empty`) under one deadline, its commits included. Faust's own
        wait cannot be bounded from outside: its `_wait_for_ack` swallows the cancellation a timeout
        would deliver, so each step runs as a task that is left to finish if the deadline passes."""
        deadline = time.monotonic() + WAIT_EMPTY_GRACE_S
        while not self.should_stop and self._unacked_messages:
            gc.collect()  # as Faust does: acked messages leave the WeakSet of unacked ones
            if not await _until(deadline, self.commit()) or not self._unacked_messages:
                break
            if not await _until(deadline, self._wait_for_ack(timeout=1)):
                break
            self._clean_unacked_messages()
        if self._unacked_messages and not self.should_stop:
            log.warning(
                "worker.in_flight_abandoned",
                events=len(self._unacked_messages),
                grace_s=WAIT_EMPTY_GRACE_S,
                hint="a batch was still retrying; its commands stay uncommitted and are processed "
                "again by the partition's next owner",
            )
        await _until(deadline + WAIT_EMPTY_GRACE_S, self.commit_and_end_transactions())


async def _until(deadline: float, step: Coroutine[Any, Any, Any]) -> bool:
    """Run `step` until `deadline` (monotonic); False if it had not finished by then."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
    if done:
        task.result()
    return bool(done)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """The `kafka://` transport with a read_committed consumer; producing is Faust's own."""

    Consumer: ClassVar[type[ConsumerT]] = ReadCommittedConsumer

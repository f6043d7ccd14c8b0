"""The load generator of `jobstream bench` and `jobstream soak`: commands produced through librdkafka.

Why not aiokafka, which the service itself uses: on a small machine the load generator shares the cores
with the system it measures, and whatever it burns is taken from the worker, the broker and Postgres.
Paced at 1,000 commands/s, aiokafka's producer took 35-40 % of a core (350-400 µs a command) and
librdkafka 12-13 %, its own threads included (docs/benchmarks.md, eighth round). The records are the
same as before: acks=all and idempotent, keyed by job id with Java's murmur2 partitioner (Kafka's own
clients' and aiokafka's, so each job's commands land on the partition the service expects and none is
forwarded), no linger when paced (each command goes out at once, as `JobstreamClient` sends it), 5 ms
flat out.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

FLAT_OUT_LINGER_MS = 5
DELIVERY_TIMEOUT_S = 120.0
QUEUE_FULL_PAUSE_S = 0.01
STATS_INTERVAL_MS = 100
_IS_IT_UP = "is the broker up (jobstream stack status)?"


class CommandSender:
    """Sends records to one topic; `finish()` waits for every delivery report."""

    def __init__(self, bootstrap: str, topic: str, paced: bool) -> None:
        self.topic = topic
        self._failures: list[KafkaError] = []
        self._idempotence = "Init"  # the idempotent producer's state, from librdkafka's statistics
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
                "linger.ms": 0 if paced else FLAT_OUT_LINGER_MS,
                "batch.size": 512 * 1024,
                "queue.buffering.max.messages": 1_000_000,
                # librdkafka leaves Nagle's algorithm on: a small request written while the last is
                # unacknowledged waited for the ACK (p99 of a paced send 10 ms instead of 3.4).
                "socket.nagle.disable": True,
                # The statistics are read only by `start()`, for the idempotent producer's state.
                "statistics.interval.ms": STATS_INTERVAL_MS,
                "stats_cb": self._read_statistics,
                # librdkafka's own lines (a broker refusing connections, say) go to the Python logger,
                # served by `poll`, instead of straight to stderr from its threads.
                "logger": logging.getLogger("librdkafka"),
            }
        )

    async def start(self, timeout_s: float = DELIVERY_TIMEOUT_S) -> None:
        """Return once the producer can send at once, before the first send is timed: librdkafka
        connects and acquires its producer id in the background (its first try waits out a 500 ms
        timer), and the records of those first ~0.5 s waited for it."""
        deadline = time.monotonic() + timeout_s
        try:
            await asyncio.to_thread(self._producer.list_topics, self.topic, timeout_s)
        except KafkaException as exc:
            raise RuntimeError(f"no broker answered in {timeout_s:g} s: {_IS_IT_UP} {exc}") from exc
        while self._idempotence != "Assigned":
            if time.monotonic() > deadline:
                raise RuntimeError(f"no producer id from the broker in {timeout_s:g} s: {_IS_IT_UP}")
            self._producer.poll(0)
            await asyncio.sleep(STATS_INTERVAL_MS / 1000 / 4)

    async def send(self, key: bytes, value: bytes) -> None:
        """Queue one record and serve the delivery reports that are in; while librdkafka's queue is
        full (a flat-out run far ahead of the broker), yield to the event loop until it has room."""
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0)
                await asyncio.sleep(QUEUE_FULL_PAUSE_S)
        self._producer.poll(0)

    async def finish(self, timeout_s: float = DELIVERY_TIMEOUT_S) -> list[str]:
        """Wait until every record is acknowledged, then close the producer (what is still undelivered
        by then is dropped, so no client keeps retrying behind the run); what went wrong, one line each
        (empty: all sent)."""
        undelivered = await asyncio.to_thread(self._producer.flush, timeout_s)
        if undelivered:
            self._producer.purge()
            self._producer.poll(0)  # the purged records' reports: counted as undelivered, not failed
        self._producer.close()
        failures = [e for e in self._failures if e.code() != KafkaError._PURGE_QUEUE]
        problems = [f"a command was not delivered: {error}" for error in failures[:5]]
        if len(failures) > 5:
            problems.append(f"... and {len(failures) - 5} more")
        if undelivered:
            problems.append(f"{undelivered} commands unacknowledged after {timeout_s:g} s: {_IS_IT_UP}")
        return problems

    def _read_statistics(self, report: str) -> None:
        self._idempotence = orjson.loads(report).get("eos", {}).get("idemp_state", self._idempotence)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(error)

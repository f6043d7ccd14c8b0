"""The Faust table of job state: the validator's fast path, a cache of Postgres (rule 11)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import faust
from faust.streams import _current_event  # the store picks its partition from the current event
from faust.types import TP, FutureMessage, ProcessingGuarantee, RecordMetadata

from schemas.job import JobState
from streams import metrics

T = TypeVar("T")
CHANGELOG_CONFIRM_TIMEOUT_S = 30.0


class ConfirmedChangelogTable(faust.Table):  # type: ignore[misc]  # Faust's generics are untyped here
    """A Faust table whose changelog writes can be awaited (`faust.App(Table=...)`, Faust's own seam).

    Faust sends a table's changelog record in the background and only logs a WARNING when the send
    fails, so a table a rebalance restores could be silently behind. Here the batch that wrote the
    values awaits their changelog records, and a failed or unconfirmed one fails the batch (retried).
    `JobStateTable` no longer writes through this path; it still guards any `table[key] = value`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unconfirmed: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        sent: FutureMessage = super().send_changelog(*args, **kwargs)
        self._unconfirmed.append(sent)
        return sent

    async def confirm_changelog(self) -> None:
        """Wait until every changelog record sent so far is acknowledged; raise if one failed or if
        they are not all acknowledged in time (an outage: the batch is retried and writes them again).

        Faust's own futures are waited on, never cancelled: its publish callback completes them.
        """
        pending, self._unconfirmed = self._unconfirmed, []
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=CHANGELOG_CONFIRM_TIMEOUT_S)
        if late:
            self._unconfirmed.extend(late)  # still Faust's; the retry waits for them too
            raise TimeoutError(
                f"{len(late)} changelog records of table {self.name!r} unacknowledged after "
                f"{CHANGELOG_CONFIRM_TIMEOUT_S:g} s"
            )
        for sent in pending:
            sent.result()  # raises the send's error, if any


@contextmanager
def _as_current(event: Any) -> Iterator[None]:
    """Faust routes table reads and writes by the event being processed; in a batch we say which."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class JobStateTable:
    """Reads and writes job state under the partition of the command that touched the job.

    Batched: the current-event context is switched once per partition, not once per job, and a read is
    one store get (`get_many`). A batch's writes bypass `table[key] = value`, whose `Table.on_key_set`
    costs ~220 µs a write (a FutureMessage per record, the producer buffer's task hop, a done-callback
    writing the offset to RocksDB again): `put_many` writes the store and hands all changelog records
    to the producer in one go, and the persisted offset is written once per changelog partition. What
    Faust does for a non-windowed table, read in faust-streaming 0.15 (`ManagedUserDict.__setitem__`
    in mode/utils/collections.py calls `on_key_set`, then `self.data[key] = value`), and how each part
    is kept:

    - Partition (`Collection.partition_for_key`, tables/base.py): with `use_partitioner` off it is
      the current event's partition, the source record's (co-partitioned), after
      `Collection._verify_source_topic_partitions` checks the partition counts once per source
      topic. Here: each group's event's partition, and the same check.
    - Bytes (`Collection.send_changelog` → `Topic.send_soon` → `Channel.as_future_message`,
      topics.py/channels.py; `Registry.dumps_key`/`dumps_value`, serializers/registry.py): with
      key and value type `bytes` the codec is "raw" (`Collection._serializer_from_type`) and bytes
      are passed through unchanged; headers are empty, timestamp None (the producer's clock). The
      store gets the same bytes (`SerializedStore.__setitem__`, stores/base.py), as recovery writes
      them (`Store.apply_changelog_batch`, stores/rocksdb.py). Here: key = job id UTF-8, value =
      `JobState.to_bytes()`, no headers, no timestamp, sent with `ProducerT.send` on the app's
      producer, the call `Topic.publish_message` makes.
    - `_maybe_set_key_ttl` (tables/base.py) returns unless the table is windowed with `expires`;
      this table is not windowed (checked below). `_sensor_on_set` is called as Faust calls it.
    - Persisted offset (`Collection._on_changelog_sent`, tables/base.py): after each ack, outside a
      transaction, `Store.set_persisted_offset` (stores/rocksdb.py) writes it to the partition's DB.
      Recovery (`Recovery._add` → `_build_offsets` → `_seek_offsets`, tables/recovery.py) reads
      the changelog from there, so the store must already hold every value up to it. Here: values
      are in the store before their records are even sent; once acknowledged, the highest offset
      per partition is written (what Faust's last callback writes). Exactly-once (which defers it
      to the commit, `TableManager.persist_offset_on_commit`) is refused below.

    The batch is acked only after `confirm()`: every record acknowledged (acks=-1, `producer_acks`
    in streams/worker/app.py), else it raises and the batch is retried. The app's producer rather
    than the runtime's DurableProducer, because only it hands back each record's offset
    (`DurableProducer.send_all` returns none), and it is the producer Faust's own changelog writes
    use, so a partition's records keep one producer's order. It runs while the events are sent.
    """

    def __init__(self, table: ConfirmedChangelogTable) -> None:
        if table.window is not None or table.use_partitioner:
            raise ValueError(f"table {table.name!r}: only a non-windowed, co-partitioned table")
        if (table.key_serializer, table.value_serializer) != ("raw", "raw"):
            raise ValueError(f"table {table.name!r}: keys and values must be bytes (the raw codec)")
        if table.default is not None:
            raise ValueError(f"table {table.name!r}: a missing job reads as None, so no default")
        if table.app.conf.processing_guarantee == ProcessingGuarantee.EXACTLY_ONCE:
            raise ValueError("exactly_once persists table offsets on commit; this table writes them on ack")
        self._table = table
        self._in_flight: list[asyncio.Task[None]] = []  # one per put_many, until confirmed

    def get_many(self, items: Iterable[tuple[Any, str]]) -> dict[str, JobState | None]:
        """Read from the store, as `table.get(key)` does minus its second read: a table with `__missing__`
        (every Faust table) asks the store `key in data` and then `data[key]`, two RocksDB gets a job.
        Without a default, both return None for a missing key; `on_key_get` is only the sensor call."""
        table = self._table
        store = table.data
        found: dict[str, JobState | None] = {}
        for event, job_ids in _by_partition(items):
            with _as_current(event):  # the store reads the event's partition's DB
                for job_id in job_ids:
                    key = job_id.encode()
                    table._sensor_on_get(table, key)
                    found[job_id] = _decode(job_id, store.get(key))
        return found

    def put_many(self, items: Iterable[tuple[Any, JobState]]) -> None:
        """Write the store now and start sending the changelog records; `confirm()` awaits them."""
        self._write((event, (state.id.encode(), state.to_bytes())) for event, state in items)

    def delete_many(self, items: Iterable[tuple[Any, str]]) -> None:
        """Remove deleted jobs (rule 14): from the store now, and from the changelog by a tombstone (a
        null value: compaction drops the key, and recovery deletes it, `Store.apply_changelog_batch`)."""
        self._write((event, (job_id.encode(), None)) for event, job_id in items)

    def _write(self, items: Iterable[tuple[Any, tuple[bytes, bytes | None]]]) -> None:
        table = self._table
        store = table.data
        records: list[tuple[int, bytes, bytes | None]] = []
        for event, entries in _by_partition(items):
            message = event.message
            table._verify_source_topic_partitions(message.topic)
            with _as_current(event):  # the store writes to the event's partition's DB
                for key, value in entries:
                    if value is None:
                        with suppress(KeyError):  # a memory store raises for a missing key, RocksDB not
                            del store[key]
                        table._sensor_on_del(table, key)
                    else:
                        store[key] = value
                        table._sensor_on_set(table, key, value)
                    records.append((message.partition, key, value))
        if records:
            deletes = sum(value is None for _, _, value in records)
            metrics.TABLE_WRITES.labels("put").inc(len(records) - deletes)
            metrics.TABLE_WRITES.labels("delete").inc(deletes)
            self._in_flight.append(asyncio.get_running_loop().create_task(self._publish(records)))

    async def confirm(self) -> None:
        """Every state put so far is durable on the table's changelog.

        Sends are waited on, never cancelled: a late one stays in flight, and the retry waits for it
        too (as `ConfirmedChangelogTable.confirm_changelog` does with Faust's futures)."""
        await self._table.confirm_changelog()  # writes made through Faust's API, if any
        pending, self._in_flight = self._in_flight, []
        if not pending:
            return
        done, late = await asyncio.wait(pending, timeout=CHANGELOG_CONFIRM_TIMEOUT_S)
        errors = [error for task in done if (error := task.exception()) is not None]
        if late:
            self._in_flight.extend(late)
            raise TimeoutError(
                f"changelog records of table {self._table.name!r} unacknowledged after "
                f"{CHANGELOG_CONFIRM_TIMEOUT_S:g} s"
            )
        if errors:
            raise errors[0]  # the first send that failed; the retry resends them all

    async def _publish(self, records: list[tuple[int, bytes, bytes | None]]) -> None:
        """Enqueue every record, await every ack, then advance each partition's persisted offset to
        the highest acknowledged offset (also when some failed: the log holds nothing for those)."""
        producer = self._table.app.producer
        topic = self._table.changelog_topic_name
        acks: list[Awaitable[RecordMetadata]] = []
        try:
            for partition, key, value in records:
                acks.append(await producer.send(topic, key, value, partition, None, {}))
        except BaseException:
            # The batch fails; what was enqueued still completes (its outcomes retrieved, not awaited),
            # and its offsets are left unrecorded: a lower persisted offset only means a longer recovery.
            asyncio.gather(*acks, return_exceptions=True)
            raise
        outcomes = await asyncio.gather(*acks, return_exceptions=True)
        highest: dict[int, int] = {}
        for outcome in outcomes:
            if not isinstance(outcome, BaseException):
                highest[outcome.partition] = max(outcome.offset, highest.get(outcome.partition, -1))
        store = self._table.data
        for partition, offset in highest.items():
            store.set_persisted_offset(TP(topic, partition), offset)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome


def _by_partition(items: Iterable[tuple[Any, T]]) -> list[tuple[Any, list[T]]]:
    groups: dict[int, tuple[Any, list[T]]] = {}
    for event, item in items:
        groups.setdefault(event.message.partition, (event, []))[1].append(item)
    return list(groups.values())


def _decode(job_id: str, raw: Any) -> JobState | None:
    if raw is None:
        return None
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"job-state table holds {type(raw).__name__} for {job_id!r}, expected bytes")
    # rocksdict may hand back a bytes subclass, which orjson refuses: copy to plain bytes.
    return JobState.from_bytes(bytes(raw))

"""JobStateTable without a broker: a real Faust table on RocksDB, a producer that records and acks sends.

The changelog records must be what Faust's own `table[key] = value` would send, the persisted offset the
highest acknowledged one per partition (written only after the ack), and a failed or late send must fail
`confirm()` as before.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest
from faust.types import TP, RecordMetadata

from schemas.job import JobState
from schemas.vocabulary import JobType, Status
from streams.commands import state_table
from streams.commands.state_table import ConfirmedChangelogTable, JobStateTable, _as_current

SOURCE = "jobs.commands"


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    timestamp: float | None
    headers: Any


class Producer:
    """Faust's producer as the table sees it; acks in order per partition unless held."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.buffered: list[Any] = []  # Faust's own path: send_soon
        self.held: list[tuple[asyncio.Future[RecordMetadata], Sent]] = []
        self.hold = False
        self.fail_keys: set[bytes] = set()
        self.refuse_keys: set[bytes] = set()  # refused when enqueued (Faust raises ProducerSendError)
        self.next_offset: dict[int, int] = defaultdict(int)

    async def maybe_start(self) -> None:
        pass

    def send_soon(self, fut: Any) -> None:
        self.buffered.append(fut)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        if key in self.refuse_keys:
            raise RuntimeError(f"producer refused {key!r}")
        sent = Sent(topic, key, value, partition, timestamp, headers)
        self.sent.append(sent)
        ack: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        self.held.append((ack, sent))
        if not self.hold:
            self.release()
        return ack

    def release(self) -> None:
        held, self.held = self.held, []
        for ack, sent in held:
            if sent.key in self.fail_keys:
                ack.set_exception(RuntimeError(f"broker refused {sent.key!r}"))
                continue
            assert sent.partition is not None
            offset = self.next_offset[sent.partition]
            self.next_offset[sent.partition] += 1
            ack.set_result(RecordMetadata(sent.topic, sent.partition, TP(sent.topic, sent.partition), offset))


class Event:
    """What the table reads of Faust's event: its message's topic and partition (weak-referenceable)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(topic=SOURCE, partition=partition)


def _table(datadir: Path, **conf: Any) -> tuple[ConfirmedChangelogTable, Producer]:
    app = faust.App(
        f"test-state-{uuid.uuid4().hex[:8]}",
        store="rocksdb://",
        datadir=str(datadir),
        web_enabled=False,
        Table=ConfirmedChangelogTable,
        **conf,
    )
    producer = Producer()
    app.producer = producer  # type: ignore[assignment]  # duck-typed: send, send_soon, maybe_start
    table = cast(
        ConfirmedChangelogTable, app.Table("job-state", key_type=bytes, value_type=bytes, partitions=4)
    )
    table._verified_source_topics_for_partitions.add(SOURCE)  # no broker to ask for partition counts
    return table, producer


@pytest.fixture
def setup(tmp_path: Path) -> tuple[ConfirmedChangelogTable, Producer, JobStateTable]:
    table, producer = _table(tmp_path)
    return table, producer, JobStateTable(table)


def _state(job_id: str, seq: int = 1) -> JobState:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return JobState(
        id=job_id, job_type=JobType.JOB, status=Status.RUNNING, seq=seq, created_at=now, updated_at=now
    )


def _items(*jobs: tuple[str, int, int]) -> list[tuple[Any, JobState]]:
    """(job id, partition, seq) -> what the processor passes: the event that touched the job, its state."""
    events: dict[int, Event] = {}
    return [(events.setdefault(p, Event(p)), _state(job, seq)) for job, p, seq in jobs]


def _per_partition(sent: Iterable[Sent]) -> dict[int | None, list[Sent]]:
    found: dict[int | None, list[Sent]] = defaultdict(list)
    for record in sent:
        found[record.partition].append(record)
    return dict(found)


def _changelog(table: ConfirmedChangelogTable, partition: int) -> TP:
    return TP(table.changelog_topic_name, partition)


async def test_records_are_what_faust_itself_would_send(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable],
) -> None:
    table, producer, cache = setup
    items = _items(("job-a", 0, 1), ("job-b", 3, 2), ("job-c", 0, 5))
    cache.put_many(items)
    await cache.confirm()
    ours = list(producer.sent)
    producer.sent.clear()
    for event, state in items:  # Faust's path: on_key_set -> send_changelog -> send_soon ... publish
        with _as_current(event):
            table[state.id.encode()] = state.to_bytes()
    for fut in producer.buffered:
        await table.changelog_topic.publish_message(fut)
    assert _per_partition(producer.sent) == _per_partition(ours)  # across partitions no order is kept
    topic = f"{table.app.conf.id}-job-state-changelog"
    assert _per_partition(ours) == _per_partition(
        Sent(topic, s.id.encode(), s.to_bytes(), e.message.partition, None, {}) for e, s in items
    )


async def test_the_store_holds_the_values_before_their_changelog_is_acknowledged(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable],
) -> None:
    table, producer, cache = setup
    producer.hold = True
    items = _items(("job-a", 1, 3))
    cache.put_many(items)
    assert cache.get_many([(items[0][0], "job-a")])["job-a"] == items[0][1]
    confirming = asyncio.ensure_future(cache.confirm())
    await asyncio.sleep(0.01)
    assert not confirming.done()
    assert table.persisted_offset(_changelog(table, 1)) is None  # not before the ack
    producer.release()
    await confirming
    assert table.persisted_offset(_changelog(table, 1)) == 0


async def test_the_persisted_offset_is_the_highest_acknowledged_written_once_per_partition(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable], monkeypatch: pytest.MonkeyPatch
) -> None:
    table, _, cache = setup
    writes: list[tuple[int, int]] = []
    set_offset = table.data.set_persisted_offset

    def spy(tp: TP, offset: int) -> None:
        writes.append((tp.partition, offset))
        set_offset(tp, offset)

    monkeypatch.setattr(table.data, "set_persisted_offset", spy)
    cache.put_many(_items(*[(f"job-{i}", i % 2, 1) for i in range(10)]))
    await cache.confirm()
    assert sorted(writes) == [(0, 4), (1, 4)]
    cache.put_many(_items(("job-0", 0, 2)))
    await cache.confirm()
    assert table.persisted_offset(_changelog(table, 0)) == 5
    assert table.persisted_offset(_changelog(table, 1)) == 4


async def test_a_failed_send_fails_confirm_and_only_acknowledged_offsets_are_persisted(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable],
) -> None:
    table, producer, cache = setup
    producer.fail_keys = {b"job-b"}
    cache.put_many(_items(("job-a", 0, 1), ("job-b", 2, 1)))
    with pytest.raises(RuntimeError, match="job-b"):
        await cache.confirm()
    assert table.persisted_offset(_changelog(table, 0)) == 0
    assert table.persisted_offset(_changelog(table, 2)) is None
    producer.fail_keys = set()
    await cache.confirm()  # nothing left in flight: the retry's own records decide the next one


async def test_a_record_refused_when_enqueued_fails_confirm(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable],
) -> None:
    table, producer, cache = setup
    producer.refuse_keys = {b"job-b"}
    cache.put_many(_items(("job-a", 0, 1), ("job-b", 0, 1)))
    with pytest.raises(RuntimeError, match="job-b"):
        await cache.confirm()
    assert table.persisted_offset(_changelog(table, 0)) is None  # unrecorded: recovery reads from earlier
    assert [s.key for s in producer.sent] == [b"job-a"]


async def test_a_late_ack_fails_confirm_and_the_retry_waits_for_it(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable], monkeypatch: pytest.MonkeyPatch
) -> None:
    table, producer, cache = setup
    monkeypatch.setattr(state_table, "CHANGELOG_CONFIRM_TIMEOUT_S", 0.05)
    producer.hold = True
    cache.put_many(_items(("job-a", 0, 1)))
    with pytest.raises(TimeoutError):
        await cache.confirm()
    cache.put_many(_items(("job-a", 0, 1)))  # the retry writes the state again
    retry = asyncio.ensure_future(cache.confirm())
    await asyncio.sleep(0.01)
    producer.release()
    await retry
    assert table.persisted_offset(_changelog(table, 0)) == 1  # both records, the late one included
    assert [s.key for s in producer.sent] == [b"job-a", b"job-a"]


async def test_a_fresh_worker_recovering_the_changelog_reads_the_states_written(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable], tmp_path: Path
) -> None:
    """What Faust's recovery does with the records (`apply_changelog_batch`) gives back the same table."""
    table, producer, cache = setup
    items = _items(("job-a", 0, 1), ("job-b", 1, 1), ("job-a", 0, 2), ("job-c", 3, 7))
    cache.put_many(items[:2])
    await cache.confirm()
    cache.put_many(items[2:])
    await cache.confirm()
    other, _ = _table(tmp_path / "other")
    offsets: dict[int, int] = defaultdict(int)
    recovered = []
    for sent in producer.sent:
        assert sent.partition is not None
        tp = TP(other.changelog_topic_name, sent.partition)
        message = SimpleNamespace(
            tp=tp, partition=sent.partition, offset=offsets[sent.partition], key=sent.key, value=sent.value
        )
        offsets[sent.partition] += 1
        recovered.append(SimpleNamespace(message=message))
    other.apply_changelog_batch(cast(list[faust.EventT], recovered))
    reader = JobStateTable(other)
    latest = {state.id: (event, state) for event, state in items}
    found = reader.get_many((event, job_id) for job_id, (event, _) in latest.items())
    assert found == {job_id: state for job_id, (_, state) in latest.items()}
    assert other.persisted_offset(TP(other.changelog_topic_name, 0)) == table.persisted_offset(
        _changelog(table, 0)
    )


async def test_a_deleted_job_leaves_the_store_and_the_changelog_gets_faust_own_tombstone(
    setup: tuple[ConfirmedChangelogTable, Producer, JobStateTable], tmp_path: Path
) -> None:
    """Rule 14: `delete_many` sends what `del table[key]` would, and recovery forgets the key."""
    table, producer, cache = setup
    items = _items(("job-a", 0, 1), ("job-b", 2, 1))
    cache.put_many(items)
    await cache.confirm()
    events = {state.id: event for event, state in items}
    cache.delete_many([(events["job-a"], "job-a")])
    await cache.confirm()
    assert cache.get_many((event, job_id) for job_id, event in events.items()) == {
        "job-a": None,
        "job-b": items[1][1],
    }
    ours = producer.sent[-1]
    with _as_current(events["job-a"]):  # Faust's own path for a deletion: on_key_del -> send_changelog
        table.data[b"job-a"] = b"{}"
        del table[b"job-a"]
    for fut in producer.buffered:
        await table.changelog_topic.publish_message(fut)
    assert producer.sent[-1] == ours and ours.value is None and ours.partition == 0

    other, _ = _table(tmp_path / "other")
    recovered = [
        SimpleNamespace(
            message=SimpleNamespace(
                tp=TP(other.changelog_topic_name, sent.partition),
                partition=sent.partition,
                offset=offset,
                key=sent.key,
                value=sent.value,
            )
        )
        for offset, sent in enumerate(producer.sent[:3])
    ]
    other.apply_changelog_batch(cast(list[faust.EventT], recovered))
    found = JobStateTable(other).get_many((event, job_id) for job_id, event in events.items())
    assert found == {"job-a": None, "job-b": items[1][1]}


def test_refuses_tables_whose_writes_faust_would_handle_otherwise(tmp_path: Path) -> None:
    table, _ = _table(tmp_path / "eos", processing_guarantee="exactly_once")
    with pytest.raises(ValueError, match="exactly_once"):
        JobStateTable(table)
    table, _ = _table(tmp_path / "partitioner")
    table.use_partitioner = True
    with pytest.raises(ValueError, match="co-partitioned"):
        JobStateTable(table)
    table, _ = _table(tmp_path / "default")
    table.default = dict
    with pytest.raises(ValueError, match="no default"):
        JobStateTable(table)

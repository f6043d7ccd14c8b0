"""The Faust hot path: pinned to the Faust it was written for, direct only when nothing can block.

Built on the real app, consumer and conductor (no broker: `getmany` is replaced by a list of records).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from streams.kafka.transport import ReadCommittedTransport
from streams.settings import Settings
from streams.worker import faust_hot_path
from streams.worker.app import create_app
from streams.worker.faust_hot_path import HotPathConductor, HotPathConsumer, HotPathTransport

TOPIC = "jobs.commands"
TP0 = TP(TOPIC, 0)


def test_the_installed_faust_is_the_one_the_hot_path_was_written_for() -> None:
    """Fails after a Faust (or mode) upgrade: review the new sources against the copy, then renew the pins."""
    current = {name: faust_hot_path.sha256(text) for name, text in faust_hot_path.pinned_sources().items()}
    assert faust_hot_path.differences() == [], f"review faust_hot_path.py; the new digests: {current}"


@pytest.fixture
def fresh_check() -> Iterator[None]:
    faust_hot_path.hot_path_applies.cache_clear()
    yield
    faust_hot_path.hot_path_applies.cache_clear()


class _Log:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


def test_a_changed_faust_turns_the_patch_off_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, fresh_check: None
) -> None:
    name = "faust.transport.consumer.Consumer._drain_messages"
    monkeypatch.setitem(faust_hot_path.PINNED_SHA256, name, "0" * 64)
    log = _Log()
    monkeypatch.setattr(faust_hot_path, "log", log)

    assert faust_hot_path.transport_class() is ReadCommittedTransport
    assert faust_hot_path.transport_class() is ReadCommittedTransport
    assert [event for event, _ in log.warnings] == ["faust.hot_path_off"]
    assert log.warnings[0][1]["differences"] == [f"{name} source changed"]


def test_another_faust_version_turns_the_patch_off(
    monkeypatch: pytest.MonkeyPatch, fresh_check: None
) -> None:
    monkeypatch.setitem(faust_hot_path.WRITTEN_FOR, "faust-streaming", "0.15.2")
    monkeypatch.setattr(faust_hot_path, "log", _Log())
    assert faust_hot_path.transport_class() is ReadCommittedTransport


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"JOBSTREAM_HOME": str(tmp_path), **env})


async def test_the_worker_app_runs_on_the_hot_path(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    assert isinstance(app.transport, HotPathTransport)
    assert isinstance(app.topics, HotPathConductor)
    assert isinstance(app.consumer, HotPathConsumer)


@pytest.mark.parametrize(("batch_max", "expected"), [("500", 1000), ("800", 1600), ("20", 100)])
async def test_the_producer_buffer_holds_two_batches(tmp_path: Path, batch_max: str, expected: int) -> None:
    app = create_app(_settings(tmp_path, JOBSTREAM_BATCH_MAX=batch_max))
    assert app.producer.buffer.max_messages == expected


class _Channel:
    def __init__(self, maxsize: int = 10) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=maxsize)


def _message(offset: int) -> Message:
    return Message(TOPIC, 0, offset, 0.0, 0, None, b"k", b"v", None, tp=TP0)


class _Drain:
    """A hot-path consumer of a real app whose fetch returns `records` once, with its waits counted."""

    def __init__(self, tmp_path: Path) -> None:
        self.app = create_app(_settings(tmp_path))
        self.app.flow_control.resume()  # Faust starts it suspended; the worker resumes it once assigned
        self.consumer = self.app.consumer
        assert isinstance(self.consumer, HotPathConsumer)
        self.conductor = self.app.topics
        self.channel = _Channel()
        self.conductor._tp_index[TP0] = {self.channel}
        self.delivered: list[int] = []
        self.wait_firsts = 0
        self.on_delivery: Callable[[Message], Any] | None = None
        wait_first = self.consumer.wait_first

        async def counting_wait_first(*coros: Any, **kwargs: Any) -> Any:
            self.wait_firsts += 1
            return await wait_first(*coros, **kwargs)

        async def callback(message: Message) -> None:
            if self.on_delivery is not None:
                await self.on_delivery(message)
            self.delivered.append(message.offset)

        self.consumer.wait_first = counting_wait_first  # type: ignore[method-assign]
        self.consumer.callback = callback

    async def run(self, offsets: range) -> None:
        fetcher_stopped = asyncio.Event()

        async def getmany(**_: float) -> AsyncIterator[tuple[TP, Message]]:  # Faust passes timeout=
            for offset in offsets:
                yield TP0, _message(offset)
            fetcher_stopped.set()

        self.consumer.getmany = getmany  # type: ignore[assignment]
        fetcher = type("Fetcher", (), {"_stopped": fetcher_stopped})()
        await asyncio.wait_for(self.consumer._drain_messages(fetcher), timeout=5)


async def test_a_record_nothing_can_block_is_delivered_without_wait_first(tmp_path: Path) -> None:
    drain = _Drain(tmp_path)
    await drain.run(range(250))
    assert drain.delivered == list(range(250))
    assert drain.wait_firsts == 0
    assert drain.consumer._read_offset[TP0] == 249


def _flow_stopped(drain: _Drain) -> None:
    drain.consumer.stop_flow()


def _suspend_flow_set(drain: _Drain) -> None:
    drain.consumer.suspend_flow.set()


def _flow_inactive(drain: _Drain) -> None:
    drain.consumer.flow_active = False


def _flow_control_suspended(drain: _Drain) -> None:
    drain.app.flow_control.suspend()


def _producer_buffer_over(drain: _Drain) -> None:
    drain.app.producer.buffer.max_messages = 1
    for _ in range(2):
        drain.app.producer.buffer.pending.put_nowait(object())


def _channel_queue_full(drain: _Drain) -> None:
    drain.channel.queue = asyncio.Queue(maxsize=1)
    drain.channel.queue.put_nowait(object())


def _partition_unknown(drain: _Drain) -> None:
    del drain.conductor._tp_index[TP0]


BLOCKERS = [
    _flow_stopped,
    _suspend_flow_set,
    _flow_inactive,
    _flow_control_suspended,
    _producer_buffer_over,
    _channel_queue_full,
    _partition_unknown,
]


@pytest.mark.parametrize("blocker", BLOCKERS, ids=lambda blocker: blocker.__name__.strip("_"))
async def test_a_record_that_could_block_goes_through_faust_s_wait_first(
    tmp_path: Path, blocker: Callable[[_Drain], None]
) -> None:
    drain = _Drain(tmp_path)
    blocker(drain)
    await drain.run(range(3))
    assert drain.wait_firsts == 3
    assert drain.consumer._read_offset[TP0] == 2  # as Faust: the offset is read whether or not delivered


async def test_a_held_conductor_lock_goes_through_wait_first(tmp_path: Path) -> None:
    drain = _Drain(tmp_path)
    async with drain.conductor._tp_to_callback_lock:
        await drain.run(range(3))
    assert drain.wait_firsts == 3
    assert drain.delivered == [0, 1, 2]


async def test_a_rebalance_mid_fetch_abandons_a_blocked_delivery_as_faust_does(tmp_path: Path) -> None:
    """Record 1 finds its queue full and blocks; the rebalance's stop_flow must free the fetcher."""
    drain = _Drain(tmp_path)
    never = asyncio.Event()

    async def on_delivery(message: Message) -> None:
        if message.offset == 1:
            asyncio.get_running_loop().call_later(0.05, drain.consumer.stop_flow)
            await never.wait()  # a put into a full queue, or flow control, during a rebalance

    drain.on_delivery = on_delivery
    original_full = drain.channel.queue.full
    drain.channel.queue.full = lambda: original_full() or len(drain.delivered) == 1  # type: ignore[method-assign]
    await drain.run(range(3))
    assert drain.delivered == [0, 2]  # 1 abandoned; 2 under the suspended flow through wait_first
    assert drain.wait_firsts == 2


async def test_the_conductor_enters_its_lock_only_while_someone_holds_it(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    conductor = app.topics
    delivered: list[int] = []

    async def callback(message: Message) -> None:
        delivered.append(message.offset)

    conductor._tp_to_callback[TP0] = callback
    await conductor.on_message(_message(0))
    assert delivered == [0]

    lock = conductor._tp_to_callback_lock
    await lock.acquire()
    pending = asyncio.ensure_future(conductor.on_message(_message(1)))
    await asyncio.sleep(0.01)
    assert delivered == [0]  # the map is being rebuilt: it waits, as Faust's does
    lock.release()
    await asyncio.wait_for(pending, timeout=1)
    assert delivered == [0, 1]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JOBSTREAM_FETCH_WAIT_MS": "4"}, (64 * 1024, 4)),
        ({"JOBSTREAM_FETCH_WAIT_MS": "0"}, (1, 1500)),
        ({}, (1, 1500)),
    ],
)
async def test_the_broker_may_hold_a_fetch_for_the_configured_wait(
    tmp_path: Path, env: dict[str, str], expected: tuple[int, int]
) -> None:
    """What the worker's aiokafka consumer asks of the broker; 0, the default, leaves Faust's (the first
    byte, or 1.5 s)."""
    app = create_app(_settings(tmp_path, **env))
    consumer = app.consumer._thread._create_consumer(asyncio.get_running_loop())  # type: ignore[attr-defined]
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == expected
    assert consumer._isolation_level == "read_committed"


@pytest.mark.parametrize(("wait_ms", "refused"), [("0", False), ("4", True)])
async def test_an_aiokafka_without_the_fetch_settings_stops_the_worker_only_if_it_asks_for_a_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait_ms: str, refused: bool
) -> None:
    """A future aiokafka that renamed them must not stop a worker over a feature it does not use."""
    build = faust_aiokafka.AIOKafkaConsumerThread._create_consumer

    def without_fetch_settings(thread: Any, loop: asyncio.AbstractEventLoop) -> Any:
        consumer = build(thread, loop)
        del consumer._fetch_min_bytes
        return consumer

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_create_consumer", without_fetch_settings)
    app = create_app(_settings(tmp_path, JOBSTREAM_FETCH_WAIT_MS=wait_ms))
    create = app.consumer._thread._create_consumer  # type: ignore[attr-defined]
    if refused:
        with pytest.raises(RuntimeError, match=r"no \['_fetch_min_bytes'\]"):
            create(asyncio.get_running_loop())
    else:
        assert create(asyncio.get_running_loop())._isolation_level == "read_committed"

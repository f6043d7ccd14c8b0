"""Faust's per-message cost cut where it arises: the fetcher's drain and the conductor's lock.

Why. Faust's fetcher hands every fetched record to the conductor with

    await self.wait_first(callback(message), self.suspend_flow.wait())

(`faust/transport/consumer.py` `Consumer._drain_messages`). mode's `Service.wait_first` wraps that in four
tasks (the callback, `suspend_flow`, the consumer's stopped and crashed events), an `asyncio.wait` and
three cancellations: about three event-loop iterations per record, the largest single cost of a Faust agent
(`/work/shared/notes/faust-hot-path.md`: 285-299 µs of CPU per record consumed, 143 µs without it). The race
is there for one reason: a rebalance or a stop must be able to abandon a delivery that is *blocked*.
The conductor's `on_message` can block at exactly four points (faust 0.15.3: `transport/conductor.py`
and its compiled twin `transport/_cython/conductor.pyx`, the one the wheel uses): the `_tp_to_callback_lock`,
`app.flow_control.acquire()`, `producer.buffer.wait_until_ebb()` and, for a full channel queue,
`channel.put()` (decoding, and the decode-error path, never wait). When none of them would wait, the
callback runs to its end without yielding to the loop, so nothing can set `suspend_flow` (or stop the
consumer) while it runs: the race cannot change the outcome, only cost it.

What changes. `HotPathConsumer._drain_messages` is Faust's function with that one statement replaced:
when the flow is on, `suspend_flow` is clear, the consumer is neither stopped nor crashed,
`app.flow_control` is active, the producer buffer is not over `max_messages`, the conductor's lock is free
and no queue of the record's channels is full, it awaits the callback directly; otherwise it runs Faust's
own `wait_first`, so rebalances, stops and back-pressure behave exactly as before. `HotPathConductor` reads
its callback map without entering the lock when nobody holds it: the map only changes under the lock (or
synchronously), so reading it while the lock is free sees what acquiring would have. Its CPU gain is within
noise (< 1 µs a record); it is here because it makes "the lock is free" an exact condition for the direct
await: a free `asyncio.Lock` still makes a newcomer wait behind a waiter it has woken and not yet run.

Applied only to the Faust it was written for. The copied function and the blocking points it relies on are
pinned by version and by a hash of their source (`inspect.getsource`; for the compiled handler, the `.pyx`
shipped beside it). If any differs, `transport_class()` returns the plain `ReadCommittedTransport` and logs
one WARNING: a Faust upgrade turns the patch off rather than run a copy of code that changed, and
`tests/streams/worker/test_faust_hot_path.py` fails until someone reviews the new source and renews the pins.

Upstream, this is a minimal diff to `Consumer._drain_messages` (plus `can_deliver_now`, the predicate
below, as a Consumer method; and `locked()` checked before `async with` in `_compile_message_handler`):

    -                            await self.wait_first(
    -                                callback(message), self.suspend_flow.wait()
    -                            )
    +                            if can_deliver_now(message):
    +                                # nothing in the callback can block: no race needed
    +                                await callback(message)
    +                            else:
    +                                await self.wait_first(
    +                                    callback(message), self.suspend_flow.wait()
    +                                )
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
from collections.abc import AsyncIterator, Callable
from importlib import metadata
from pathlib import Path
from typing import ClassVar, cast

import structlog
from faust.transport import conductor as faust_conductor
from faust.transport import consumer as faust_consumer
from faust.transport import producer as faust_producer
from faust.types import Message
from faust.types.transports import ConductorT, ConsumerCallback, ConsumerT, TransportT
from mode import Service, ServiceT
from mode.utils import queues as mode_queues

from streams.kafka.transport import ReadCommittedConsumer, ReadCommittedTransport

log = structlog.get_logger(__name__)

# The versions this module was written against, and the sha256 of the source of each function it copies
# (`_drain_messages`, `_compile_message_handler`) or whose blocking points its predicate mirrors.
CYTHON_CONDUCTOR = "faust/transport/_cython/conductor.pyx"  # the compiled handler, by its shipped source
WRITTEN_FOR = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1"}
PINNED_SHA256 = {
    "faust.transport.consumer.Consumer._drain_messages": (
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
    ),
    "faust.transport.conductor.Conductor._compile_message_handler": (
        "9fbc0538097aa4eca6113b99df8d17605ae72a6b5030482f041a183f4cc34df1"
    ),
    "faust.transport.conductor.ConductorCompiler.build": (
        "837cf521368c1ee4b22c235a2b137f665eca03d0e3e01b5ddedb65232ee73bf2"
    ),
    CYTHON_CONDUCTOR: ("dde1f974267881cf8c5f7e4fd2b114a2c6d754633a2aa9a2a2fc92f93e143dba"),
    "faust.transport.producer.ProducerBuffer.wait_until_ebb": (
        "758dd5744044071bbc79609fa8e5bfc339818f186bc19b723de2c4c877412e00"
    ),
    "mode.utils.queues.FlowControlEvent.acquire": (
        "ed0208e866e64d0b8c677054eb1e6988aea3e9cb248f81b040b30e749fb11cd6"
    ),
    "mode.services.Service.wait_first": "feade6a31f8a67897cf687c54c66f5f4535288050bbaac07249ce2063d36ae2e",
}


_PINNED_FUNCTIONS: dict[str, Callable[..., object]] = {
    "faust.transport.consumer.Consumer._drain_messages": faust_consumer.Consumer._drain_messages,
    "faust.transport.conductor.Conductor._compile_message_handler": (
        faust_conductor.Conductor._compile_message_handler
    ),
    "faust.transport.conductor.ConductorCompiler.build": faust_conductor.ConductorCompiler.build,
    "faust.transport.producer.ProducerBuffer.wait_until_ebb": faust_producer.ProducerBuffer.wait_until_ebb,
    "mode.utils.queues.FlowControlEvent.acquire": mode_queues.FlowControlEvent.acquire,
    "mode.services.Service.wait_first": Service.wait_first,
}


def pinned_sources() -> dict[str, str]:
    """The current source of everything `PINNED_SHA256` pins; the compiled handler's (its `.pyx`, shipped
    beside it) only when Faust uses it."""
    sources = {name: inspect.getsource(function) for name, function in _PINNED_FUNCTIONS.items()}
    if faust_conductor.ConductorHandler is not None:
        pyx = Path(faust_conductor.__file__).parent / "_cython" / "conductor.pyx"
        sources[CYTHON_CONDUCTOR] = pyx.read_text() if pyx.exists() else ""  # no source: not reviewable
    return sources


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def differences() -> list[str]:
    """What differs from the Faust this module was written for; empty when the patch applies."""
    found = [
        f"{package} {metadata.version(package)} (written for {version})"
        for package, version in WRITTEN_FOR.items()
        if metadata.version(package) != version
    ]
    found += [
        f"{name} source changed"
        for name, source in pinned_sources().items()
        if sha256(source) != PINNED_SHA256[name]
    ]
    return found


@functools.cache
def hot_path_applies() -> bool:
    """Checked once per process; a mismatch logs one WARNING and leaves Faust as it is."""
    found = differences()
    if found:
        log.warning(
            "faust.hot_path_off",
            differences=found,
            hint="Faust changed: the hot-path patch is off until streams/worker/faust_hot_path.py is "
            "reviewed against the new source and its pins renewed",
        )
    return not found


class HotPathConductor(faust_conductor.Conductor):
    """Faust's conductor, entering its callback-map lock only when someone holds it (so that a free lock
    never makes `on_message` wait: the drain's predicate relies on it)."""

    def _compile_message_handler(self) -> ConsumerCallback:
        if self.app.client_only:
            return super()._compile_message_handler()
        get_callback_for_tp = self._tp_to_callback.__getitem__
        lock = self._tp_to_callback_lock

        async def on_message(message: Message) -> None:
            if lock.locked():  # the map is being rebuilt: wait for it, as Faust does
                async with lock:
                    callback = get_callback_for_tp(message.tp)
            else:
                callback = get_callback_for_tp(message.tp)
            return await callback(message)

        return on_message


class HotPathConsumer(ReadCommittedConsumer):
    """The project's consumer, delivering each record without a per-record `wait_first` when it can."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        app = self.app
        conductor = app.topics
        if not isinstance(conductor, HotPathConductor) or app.client_only or app.conf.producer_threaded:
            await super()._drain_messages(fetcher)  # the predicate below does not describe these
            return

        # From here on: Faust 0.15.3's `Consumer._drain_messages`, verbatim but for the delivery statement
        # (marked) and the localised names the predicate needs. Keep it so: the diff is the docstring's.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        # --- added: what `can_deliver_now` reads, localised as Faust localises its own names.
        suspend_flow_is_set = self.suspend_flow.is_set
        consumer_crashed = cast(Service, self)._crashed.is_set
        flow_control_is_active = app.flow_control.is_active
        producer_buffer = app.producer.buffer
        producer_pending = producer_buffer.pending
        callback_lock_is_held = conductor._tp_to_callback_lock.locked
        channels_of = conductor._tp_index.get  # `.get`: the index is a defaultdict

        def can_deliver_now(message: Message) -> bool:
            """True when none of the conductor's awaits would wait (see the module docstring)."""
            if not self.flow_active or suspend_flow_is_set() or consumer_should_stop() or consumer_crashed():
                return False
            if not flow_control_is_active() or callback_lock_is_held():
                return False
            if producer_pending.qsize() > producer_buffer.max_messages:  # `wait_until_ebb` would flush
                return False
            channels = channels_of(message.tp)
            if not channels:  # unknown partition: let Faust's own path raise or wait as it does
                return False
            return not any(channel.queue.full() for channel in channels)

        # --- end of addition

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(AsyncIterator, getmany(timeout=1.0))

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:  # noqa: SIM102 (kept as Faust wrote it)
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # --- changed: was `await self.wait_first(callback(message), ...)` alone.
                            if can_deliver_now(message):
                                await callback(message)
                            else:
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


class HotPathTransport(ReadCommittedTransport):
    """The project's `kafka://` transport with the hot-path consumer and conductor."""

    Consumer: ClassVar[type[ConsumerT]] = HotPathConsumer
    Conductor: ClassVar[type[ConductorT]] = HotPathConductor


def transport_class() -> type[TransportT]:
    """The hot-path transport on the Faust it was written for, else the plain one (one WARNING)."""
    return HotPathTransport if hot_path_applies() else ReadCommittedTransport

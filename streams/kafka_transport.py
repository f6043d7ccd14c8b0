"""Faust's Kafka transport, reading read_committed: records of aborted transactions never reach an agent."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT
from faust.types.transports import ConsumerT

READ_COMMITTED = "read_committed"


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer reads with isolation.level=read_committed.

    Faust passes `read_committed` only when its own processing guarantee is exactly_once (which would
    also make every write of the worker transactional); otherwise it reads uncommitted, so a command
    produced inside a transaction its producer then aborted would be applied. Faust builds the consumer
    with one long call and no hook for its arguments, so the level is set on the built consumer, which
    aiokafka reads when `start()` creates its fetcher. One consumer serves every agent and the table's
    changelog recovery, so this covers them all.
    """

    def _create_consumer(self, loop: asyncio.AbstractEventLoop) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_consumer(loop)
        if not hasattr(consumer, "_isolation_level"):  # a future aiokafka; never read uncommitted silently
            raise RuntimeError("aiokafka.AIOKafkaConsumer has no _isolation_level: update kafka_transport")
        consumer._isolation_level = READ_COMMITTED
        return consumer


class ReadCommittedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """The `kafka://` transport with a read_committed consumer; producing is Faust's own."""

    Consumer: ClassVar[type[ConsumerT]] = ReadCommittedConsumer


class App(faust.App):
    """A faust.App whose consumer transport is `ReadCommittedTransport`.

    `_new_transport` is the factory Faust's App calls, lazily, the first time anything needs the consumer
    transport, so overriding it holds whatever touches the transport first. The alternatives are worse:
    Faust's documented plug-in point, the `faust.transports` entry-point namespace, registers a URL scheme
    for every Faust app in the environment and works only once the package metadata is reinstalled; the
    public `app.transport` setter is silently too late if anything created the transport before it.
    """

    def _new_transport(self) -> TransportT:
        return ReadCommittedTransport(self.conf.broker_consumer, self)

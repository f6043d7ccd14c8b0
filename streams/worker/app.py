"""The Faust application: topics, the job-state table (commands role), the agents on the runtime."""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.producer import ProducerBuffer
from faust.types import ProducerT, TransportT
from mode import Service

from streams.batches import results as batch_results
from streams.callbacks import dispatcher as callback_dispatcher
from streams.commands import agent as commands
from streams.commands import expiry, purging, retention
from streams.commands.state_table import ConfirmedChangelogTable
from streams.kafka.runtime import Runtime
from streams.kafka.topics import STATE_TABLE
from streams.settings import Settings
from streams.worker import downstream, faust_hot_path, metrics_server


class JobstreamApp(faust.App):
    """Faust's App with its consumer transport replaced (`ReadCommittedTransport`, with the hot path of
    `faust_hot_path` on the Faust it was written for) and a producer buffer that holds a batch.

    Faust calls `_new_transport` lazily, the first time anything needs the consumer transport, so the
    override holds whatever comes first. The alternatives are worse: the `faust.transports` entry points
    register a URL scheme for every Faust app in the environment, and the `app.transport` setter is
    silently too late if anything created the transport before it.
    """

    #: Messages Faust's producer buffer holds before the conductor stops delivering records until it has
    #: flushed (`ProducerBuffer.wait_until_ebb`); `create_app` sets it from the batch size.
    producer_buffer_max_messages: int = ProducerBuffer.max_messages
    #: How long the broker may hold a fetch for more records (`ReadCommittedConsumerThread`); 0: Faust's.
    fetch_wait_ms: int = 0

    def _new_transport(self) -> TransportT:
        return faust_hot_path.transport_class()(self.conf.broker_consumer, self)

    def _new_producer(self) -> ProducerT:
        producer = super()._new_producer()
        producer.buffer.max_messages = self.producer_buffer_max_messages
        return producer


class RuntimeService(Service):
    """Stops the shared producer and engine after Faust has stopped the agents."""

    def __init__(self, runtime: Runtime, **kwargs: object) -> None:
        self.runtime = runtime
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_stop(self) -> None:
        await self.runtime.stop()


# The job-state table's RocksDB, per partition. Faust's defaults are 64 MiB write buffers (up to 3) and a
# 2 GiB block cache for each partition's DB: the soak saw the worker's RSS climb ~20 MiB a minute at
# 600 commands/s for the first quarter hour (four partitions' memtables filling to 64 MiB), bounded only
# at GiBs. Here each partition holds at most 2 x 8 MiB of memtables and a 16 MiB block cache, 128 MiB
# for four partitions (docs/reliability.md "Soak"); a flush then writes 8 MiB, a fraction of a second.
TABLE_ROCKSDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 8 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * 2**20,
}


def create_app(settings: Settings) -> faust.App:
    datadir = settings.worker_state_dir
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = JobstreamApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        producer_linger=0.0,  # a batch sends its changelog records together; waiting only adds latency
        producer_max_request_size=4 * 1024 * 1024,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_commit_interval=0.5,
        # A worker killed with -9 never leaves the group: its partitions wait for the session to expire
        # (Faust's default is 60 s) before another member, or its own restart, takes them over.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        web_enabled=False,
        table_standby_replicas=0,
        stream_buffer_maxsize=8192,
        consumer_max_fetch_size=4 * 1024 * 1024,
        Table=ConfirmedChangelogTable,  # a failed changelog write fails the batch, not just a warning
    )
    # Faust's default (100) is below one batch's table writes (up to `batch_max` changelog records, put in
    # the buffer at once), so every batch stalled the conductor on "producer buffer full" until it had
    # flushed. Two batches' worth: a batch's writes and the next one's never wait; still bounded.
    app.producer_buffer_max_messages = max(ProducerBuffer.max_messages, 2 * settings.batch_max)
    app.fetch_wait_ms = settings.fetch_wait_ms
    _hold_flow_until_seek(app)
    runtime = Runtime(settings)
    app.service(RuntimeService(runtime))  # type: ignore[arg-type]  # Faust accepts instances too
    if "commands" in settings.roles:
        # Only the command path owns the table: a downstream-only worker declaring it would create and
        # recover a changelog (`<app id>-job-state-changelog`) it never reads or writes.
        table = app.Table(
            STATE_TABLE,
            # bytes -> Faust's "raw" codec: values are JobState's own compact encoding, keys the job id.
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            options=dict(TABLE_ROCKSDB_OPTIONS),  # a copy: Faust's store pops its own keys from it
        )
        commands.register(app, table, runtime, settings)
        expiry.register(app, runtime, settings)
        retention.register(app, runtime, settings)
        purging.register(app, runtime)
        metrics_server.register_lag(app, settings)
    if "downstream" in settings.roles:
        downstream.register(app, runtime, settings)
        callback_dispatcher.register(app, runtime, settings)
        batch_results.register(app, runtime, settings)
    return app


def _hold_flow_until_seek(app: faust.App) -> None:
    """Close a Faust race that loses or stalls commands after a rebalance (docs/reliability.md, bug 1).

    When a rebalance recovered the table, Faust resumes the stream partitions and only then seeks them to
    their committed offsets, with the consumer's flow still on from reading the changelog. Records fetched
    in between are dropped when it clears its queues, yet count as read: their offsets are skipped (lost
    commands) or never committed (a stalled partition). Faust announces the end of recovery just before
    that sequence and turns the flow back on itself right after the seek, so stopping it here is enough.
    """

    def stop_flow(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        sender.consumer.stop_flow()

    # mypy matches no plain function against mode's SignalHandlerT alias; mode calls it as shown.
    app.on_rebalance_complete.connect(stop_flow)  # type: ignore[arg-type]

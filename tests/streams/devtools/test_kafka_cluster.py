"""`jobstream stack up --brokers 3`: a three-node KRaft cluster from the same jars, topics replicated three
ways with min.insync.replicas=2; acks=all writes survive one node down and stall (not lost) with two."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.protocol.metadata import MetadataRequest

from streams.devtools.stack.ports import free_ports
from streams.devtools.stack.stack import LocalStack
from streams.kafka.topics import changelog_topic, ensure_topics
from streams.settings import Settings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def jobstream(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, stack: LocalStack) -> Iterator[dict[str, str]]:
    """Three Kafka nodes of their own (the shared stack's Postgres: only Kafka is under test)."""
    home = tmp_path_factory.mktemp("cluster")
    shared_jars = stack.settings.home / "kafka-libs"
    if any(shared_jars.glob("kafka_2.13-*.jar")):
        (home / "kafka-libs").symlink_to(shared_jars)  # spares a Maven resolution
    kafka, controller = free_ports(2)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "JOBSTREAM_REPLICATION_FACTOR")
    }
    env.update(
        JOBSTREAM_HOME=str(home),
        JOBSTREAM_KAFKA_PORT=str(kafka),
        JOBSTREAM_KAFKA_CONTROLLER_PORT=str(controller),
        DATABASE_URL=stack.settings.postgres_url,
    )
    up = jobstream(env, "stack", "up", "--brokers", "3")
    assert up.returncode == 0, up.stderr
    yield env
    jobstream(env, "stack", "down")


def _settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def test_status_and_env_show_every_node(cluster: dict[str, str]) -> None:
    status = jobstream(cluster, "stack", "status").stdout
    nodes = [line for line in status.splitlines() if line.startswith("kafka")]
    assert [line.split()[:2] for line in nodes] == [["kafka", "up"], ["kafka-2", "up"], ["kafka-3", "up"]]
    exports = jobstream(cluster, "stack", "env").stdout
    settings = _settings(cluster)
    assert len(settings.bootstrap_servers.split(",")) == 3 and settings.bootstrap_servers in exports
    assert "JOBSTREAM_REPLICATION_FACTOR=3" in exports and settings.replication_factor == 3
    again = jobstream(cluster, "stack", "up", "--brokers", "1")
    assert again.returncode == 1 and "jobstream stack down" in again.stderr  # resizing a running cluster


async def test_acks_all_survives_one_node_down_and_stalls_with_two(cluster: dict[str, str]) -> None:
    settings = _settings(cluster)
    bootstrap = settings.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("replicated", 1, 3)])
        configs = await _topic_configs(admin, "replicated")
    finally:
        await admin.close()
    assert configs["min.insync.replicas"] == "2"
    stack = LocalStack(settings)
    second, third = stack.kafka_nodes[1], stack.kafka_nodes[2]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait("replicated", b"all three"), 30)
        os.kill(_pid(second.pid_file), signal.SIGKILL)
        await asyncio.wait_for(producer.send_and_wait("replicated", b"two of three"), 60)  # min ISR met
        os.kill(_pid(third.pid_file), signal.SIGKILL)
        stalled = await producer.send("replicated", b"one of three")
        done, _ = await asyncio.wait([stalled], timeout=5)
        assert not done, "acks=all was acknowledged with one replica of three"
        await asyncio.to_thread(stack.up)  # the two come back; the write goes through, once
        await asyncio.wait_for(stalled, 90)
        await asyncio.wait_for(producer.send_and_wait("replicated", b"back"), 30)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("replicated", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        read: list[bytes] = []
        while len(read) < 4:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            read.extend(m.value for messages in batch.values() for m in messages if m.value)
    finally:
        await consumer.stop()
    assert read == [b"all three", b"two of three", b"one of three", b"back"]  # nothing lost or doubled


async def test_a_worker_starts_only_once_every_node_knows_its_topics(cluster: dict[str, str]) -> None:
    """A worker whose consumer asked a node that did not know the new changelog yet counted it with 0
    partitions for 5 minutes and failed its table writes (PartitionsMismatch) meanwhile."""
    settings = _settings({**cluster, "JOBSTREAM_NAMESPACE": f"t{os.getpid()}x"})
    await ensure_topics(settings)
    topics = settings.topics
    names = [topics.commands, topics.events, topics.deadletter, changelog_topic(settings)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        for node in LocalStack(settings).kafka_nodes:  # each node's own metadata, right after the return
            request = MetadataRequest(names, allow_auto_topic_creation=False)
            described = (await admin._send_request_to_node(node.node_id, request)).to_object()["topics"]
            assert {t["topic"]: (t["error_code"], len(t["partitions"])) for t in described} == {
                name: (0, settings.partitions) for name in names
            }, f"node {node.node_id}"
        configs = await _topic_configs(admin, changelog_topic(settings))
    finally:
        await admin.close()
    assert configs["cleanup.policy"] == "compact"  # as Faust creates a table's changelog


async def _topic_configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    """The topic's effective configs, once every broker knows the topic (it was just created)."""
    for _ in range(50):
        (description,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        error_code, _message, _type, _name, entries = description.resources[0]
        if error_code == 0:
            return {entry[0]: entry[1] for entry in entries}
        await asyncio.sleep(0.2)
    raise AssertionError(f"topic {topic} still unknown to the broker asked")


def _pid(pid_file: Path) -> int:
    return int(pid_file.read_text().strip())

"""The faults injected mid-load; each returns the moments its faults ended (when recovery is timed from)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streams.devtools.stack.kafka import KafkaNode
from streams.devtools.stack.stack import LocalStack
from tests.faults import cluster
from tests.faults.load import LoadGenerator
from tests.faults.progress import Progress
from tests.support.pipeline import Pipeline

TAKEOVER_TIMEOUT_S = 90
# KRaft fences a node that stopped heartbeating after broker.session.timeout.ms (9 s); then its partitions
# get new leaders. Beyond this the cluster did not fail over.
FAILOVER_LIMIT_S = 30.0
# A SIGTERMed node hands its leaderships over before it stops (controlled shutdown): producers may wait
# for new metadata, never this long.
ROLLING_STALL_LIMIT_S = 15.0
# Sends in flight when the nodes died may still be acknowledged by the survivors this long after.
IN_FLIGHT_GRACE_S = 2.0


@dataclass(slots=True)
class FaultContext:
    pipe: Pipeline
    stack: LocalStack
    load: LoadGenerator
    progress: Progress
    rng: random.Random
    notes: list[str] = field(default_factory=list)
    # The scenario's own claims that did not hold (the runner adds them to the checker's violations).
    violations: list[str] = field(default_factory=list)

    def during_load(self, what: str) -> None:
        """Record a fault, and whether it really hit the load (checked by the runner)."""
        self.note(f"{what} at {self.load.fraction:.0%} of the load")
        assert not self.load.done.is_set(), f"{what} came after the load ended: make the load longer"

    def note(self, line: str) -> None:
        """A note for the scenario's record, printed at once too (a failing scenario keeps its story)."""
        self.notes.append(line)
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    def acks_between(self, start: float, end: float) -> list[float]:
        """When the broker acknowledged the load's sends in [start, end] (wall clock)."""
        return [a.at for a in self.load.ledger.acked if start <= a.at <= end]

    def longest_ack_gap(self, start: float, end: float) -> float:
        """The longest the load went without an acknowledgement in [start, end]: how long writes stalled."""
        if self.load.done.is_set() and self.load.ledger.acked:  # no acks after the load are no stall
            end = min(end, max(start, self.load.ledger.acked[-1].at))
        moments = [start, *self.acks_between(start, end), end]
        return max(b - a for a, b in itertools.pairwise(moments))

    def node(self, node_id: int) -> KafkaNode:
        return self.stack.kafka_nodes[node_id - 1]

    @property
    def bootstrap(self) -> str:
        return self.pipe.settings.bootstrap_servers


Fault = Callable[[FaultContext], Awaitable[list[float]]]


async def none(ctx: FaultContext) -> list[float]:
    return []


async def kill_worker(ctx: FaultContext, times: int = 5) -> list[float]:
    """SIGKILL the worker at a random moment, restart it under the same name (same local state), repeat
    once it has committed again; the kills are spread over the load."""
    ends = []
    for n in range(times):
        await ctx.load.reached((n + 0.5) / (times + 0.5))
        await asyncio.sleep(ctx.rng.uniform(0, 1.5))
        ctx.during_load(f"kill -9 #{n + 1}")
        ctx.pipe.workers[-1].kill()
        await asyncio.sleep(ctx.rng.uniform(0.1, 1.0))
        ctx.pipe.start_worker("w0")
        ends.append(time.time())
        await ctx.progress.resumed(ends[-1], TAKEOVER_TIMEOUT_S)
    return ends


async def kill_broker(ctx: FaultContext) -> list[float]:
    """SIGKILL the only Kafka broker, leave it down a few seconds, start it again."""
    await ctx.load.reached(0.3)
    ctx.during_load("broker kill -9")
    ctx.stack.kafka.kill()
    await asyncio.sleep(3)
    await asyncio.to_thread(ctx.stack.kafka.up)
    return [time.time()]


async def stop_postgres(ctx: FaultContext, down_s: float = 10) -> list[float]:
    """Postgres stopped (immediate mode: in-flight transactions lost) for `down_s`, then started."""
    await ctx.load.reached(0.3)
    ctx.during_load("Postgres stop")
    await asyncio.to_thread(ctx.stack.postgres.kill)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(ctx.stack.postgres.up)
    return [time.time()]


async def rebalance(ctx: FaultContext) -> list[float]:
    """A second worker joins (partitions move to it), then leaves cleanly (they move back)."""
    await ctx.load.reached(0.2)
    ctx.during_load("second worker joins")
    joiner = ctx.pipe.start_worker("w1")
    joined = await ctx.progress.stable_with(2, TAKEOVER_TIMEOUT_S)
    await ctx.load.reached(0.6)
    ctx.during_load("second worker leaves")
    await asyncio.to_thread(joiner.stop)
    left = time.time()
    await ctx.progress.stable_with(1, TAKEOVER_TIMEOUT_S)
    return [joined, left]


async def start_nodes(nodes: list[KafkaNode]) -> None:
    """Start the nodes together, then wait for each (a node answers only once a quorum of voters runs)."""

    def start() -> None:
        started = [(node, node.start()) for node in nodes]
        for node, proc in started:
            node.wait_ready(proc)

    await asyncio.to_thread(start)


async def kill_commands_leader(ctx: FaultContext, down_s: float = 8) -> list[float]:
    """SIGKILL the node leading most commands partitions; the others must take its partitions over (and
    the load its writes) within FAILOVER_LIMIT_S; it restarts after `down_s`."""
    await ctx.load.reached(0.3)
    commands = ctx.pipe.settings.topics.commands
    victim = await cluster.busiest_leader(ctx.bootstrap, commands)
    before = await cluster.leaders(ctx.bootstrap, commands)
    ctx.during_load(f"kill -9 of node {victim}, leader of {sum(v == victim for v in before.values())}"
                    f"/{len(before)} commands partitions")  # fmt: skip
    killed = time.time()
    await asyncio.to_thread(ctx.node(victim).kill)
    moved = await cluster.led_elsewhere(ctx.bootstrap, commands, victim, TAKEOVER_TIMEOUT_S)
    ctx.note(f"commands partitions led elsewhere {moved - killed:.1f}s after the kill")
    if moved - killed > FAILOVER_LIMIT_S:
        ctx.violations.append(f"leadership moved only {moved - killed:.1f}s after the leader's kill")
    await asyncio.sleep(max(0.0, killed + down_s - time.time()))
    await start_nodes([ctx.node(victim)])
    restarted = time.time()
    stall = ctx.longest_ack_gap(killed, restarted)
    ctx.note(f"longest wait for an ack while node {victim} was down: {stall:.1f}s")
    if stall > FAILOVER_LIMIT_S:
        ctx.violations.append(f"writes stalled {stall:.1f}s with one node of three down")
    return [restarted]


async def rolling_restart(ctx: FaultContext) -> list[float]:
    """SIGTERM each node in turn, start it again and wait until every replica is back in sync before
    the next (as an operator's rolling restart does); writes must never stall long."""
    await ctx.load.reached(0.02)
    ends = []
    for node in ctx.stack.kafka_nodes:
        ctx.during_load(f"SIGTERM node {node.node_id}")
        stopping = time.time()
        await asyncio.to_thread(node.down)
        stopped = time.time()
        await start_nodes([node])
        ends.append(time.time())
        synced = await cluster.fully_replicated(ctx.bootstrap, TAKEOVER_TIMEOUT_S)
        stall = ctx.longest_ack_gap(stopping, synced)
        ctx.note(
            f"node {node.node_id}: stopped in {stopped - stopping:.1f}s, up {ends[-1] - stopped:.1f}s"
            f" later, in sync {synced - ends[-1]:.1f}s after; longest wait for an ack {stall:.1f}s"
        )
        if stall > ROLLING_STALL_LIMIT_S:
            ctx.violations.append(f"writes stalled {stall:.1f}s while node {node.node_id} restarted")
    return ends


async def two_nodes_down(ctx: FaultContext, down_s: float = 10) -> list[float]:
    """SIGKILL two of the three nodes (the commands leader among them): with min.insync.replicas=2 no
    acks=all write may be acknowledged until they return; then everything acknowledged is applied."""
    await ctx.load.reached(0.3)
    leader = await cluster.busiest_leader(ctx.bootstrap, ctx.pipe.settings.topics.commands)
    victims = [leader, *[n.node_id for n in ctx.stack.kafka_nodes if n.node_id != leader][:1]]
    ctx.during_load(f"kill -9 of nodes {victims}")
    killed = time.time()
    for victim in victims:
        await asyncio.to_thread(ctx.node(victim).kill)
    await asyncio.sleep(down_s)
    restarting = time.time()
    acked = ctx.acks_between(killed + IN_FLIGHT_GRACE_S, restarting)
    in_flight = ctx.acks_between(killed, killed + IN_FLIGHT_GRACE_S)
    ctx.note(
        f"{len(acked)} acks in the {restarting - killed - IN_FLIGHT_GRACE_S:.0f}s with one node of three"
        f" ({len(in_flight)} in the {IN_FLIGHT_GRACE_S:.0f}s after the kill)"
    )
    if acked:
        ctx.violations.append(f"{len(acked)} acks=all writes acknowledged with one in-sync replica")
    await start_nodes([ctx.node(victim) for victim in victims])
    back = time.time()
    resumed = next((at for at in ctx.acks_between(restarting, back + TAKEOVER_TIMEOUT_S)), None)
    ctx.note(
        f"nodes up {back - restarting:.1f}s after their start; first ack"
        f" {'never' if resumed is None else f'{resumed - restarting:.1f}s after it'}"
    )
    return [back]


async def workers_with_broker_down(ctx: FaultContext, down_s: float = 4) -> list[float]:
    """Three workers under load; the group's coordinator node is SIGKILLed, and while it is down one
    worker is SIGKILLed and a fourth joins: the group must settle on three members, and do so again
    once the node is back."""
    await ctx.load.reached(0.1)
    ctx.during_load("workers w1 and w2 join")
    starting = time.time()
    for name in ("w1", "w2"):
        ctx.pipe.start_worker(name)
    joined = await ctx.progress.stable_with(3, TAKEOVER_TIMEOUT_S)
    # Three workers starting at once on 2 cores take 10-40 s to settle: the load must outlast that.
    ctx.note(f"group Stable with 3 members {joined - starting:.1f}s after w1 and w2 started")
    await ctx.load.reached(0.4)
    node = await cluster.coordinator(ctx.bootstrap, ctx.pipe.settings.app_id)
    ctx.during_load(f"kill -9 of node {node} (the group's coordinator)")
    killed = time.time()
    await asyncio.to_thread(ctx.node(node).kill)
    await asyncio.sleep(down_s)
    ctx.during_load("kill -9 of worker w1, w3 joins")
    ctx.pipe.workers[1].kill()
    ctx.pipe.start_worker("w3")
    settled = await ctx.progress.stable_with(3, TAKEOVER_TIMEOUT_S)
    ctx.note(f"group Stable with 3 members {settled - killed:.1f}s after the node's kill")
    await start_nodes([ctx.node(node)])
    back = time.time()
    await ctx.progress.stable_with(3, TAKEOVER_TIMEOUT_S)
    return [joined, settled, back]

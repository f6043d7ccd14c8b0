"""Reconciles the load's ledger with Postgres, the events and dead-letter topics, and the job-state table."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.job import JobState
from schemas.lifecycle import transition_allowed
from schemas.vocabulary import INITIAL, Status
from streams.settings import Settings
from tests.faults.load import Acked, Ledger
from tests.faults.scripts import ANY, APPLIED, DEAD, DUPLICATE, HEARTBEAT, REJECTED, Script

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything the checks look at, read once after the worker group has caught up."""

    commands: list[Record]
    events: list[Record]
    deadletters: list[Record]
    table: dict[str, JobState]  # the Faust table: its changelog replayed, last value per key
    jobs: dict[str, tuple[str, int]]  # Postgres: job id -> (status, seq)
    history: dict[str, list[dict[str, Any]]]  # Postgres job_events per job, by seq


@dataclass(frozen=True, slots=True)
class Counts:
    sent: int
    acknowledged: int
    applied: int
    rejected: int
    duplicates_suppressed: int
    dead_lettered: int
    events_published: int
    events_distinct: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def observe(settings: Settings, job_ids: list[str]) -> Observed:
    bootstrap, topics, partitions = settings.bootstrap_servers, settings.topics, settings.partitions
    changelog = await drain(bootstrap, f"{settings.app_id}-job-state-changelog", partitions)
    table = {r.key.decode(): JobState.from_bytes(r.value) for r in changelog if r.key and r.value}
    connection = await asyncpg.connect(settings.postgres_url)
    try:
        wanted = sorted({*job_ids, *table})
        jobs = await connection.fetch("SELECT id, status, seq FROM jobs WHERE id = ANY($1::text[])", wanted)
        rows = await connection.fetch(
            "SELECT job_id, seq, event_id, command_id, payload::text AS payload FROM job_events"
            " WHERE job_id = ANY($1::text[]) ORDER BY job_id, seq",
            wanted,
        )
    finally:
        await connection.close()
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        history[row["job_id"]].append({**row, "payload": orjson.loads(row["payload"])})
    return Observed(
        commands=await drain(bootstrap, topics.commands, partitions),
        events=await drain(bootstrap, topics.events, partitions),
        deadletters=await drain(bootstrap, topics.deadletter, partitions),
        table=table,
        jobs={row["id"]: (row["status"], row["seq"]) for row in jobs},
        history=dict(history),
    )


async def drain(bootstrap_servers: str, topic: str, partitions: int) -> list[Record]:
    """Every record of `topic`, from the beginning to the end offsets seen when called."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        found: list[Record] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(messages)
        return found
    finally:
        await consumer.stop()


def check(scripts: list[Script], ledger: Ledger, seen: Observed, commands_topic: str) -> list[str]:
    """Every violated invariant, as one line each (empty: all hold)."""
    events = _events_by_id(seen.events)
    return [
        *check_ledger(ledger, seen, events),
        *check_sequences(seen, events),
        *check_final_states(scripts, seen),
        *check_table(seen),
        *check_histories(seen),
        *check_deadletters(ledger, seen, commands_topic),
    ]


def check_ledger(ledger: Ledger, seen: Observed, events: dict[str, list[dict[str, Any]]]) -> list[str]:
    """No acknowledged command missing: each has the outcome its script says, visible to users."""
    event_rows = {(row["job_id"], row["command_id"]): row for rows in seen.history.values() for row in rows}
    dead = {
        (int(_header(r, "source.partition")), int(_header(r, "source.offset"))): r for r in seen.deadletters
    }
    copies = Counter(a.step.command_id for a in ledger.acked if a.step.outcome in (APPLIED, DUPLICATE))
    problems: list[str] = []
    for acked in ledger.acked:
        step = acked.step
        if step.outcome in (APPLIED, DUPLICATE):
            problems += _check_applied(acked, event_rows.get((step.job_id, step.command_id)), events, copies)
        elif step.outcome == REJECTED:
            rejection = events.get(f"{step.job_id}:rejected:{step.command_id}")
            if (step.job_id, step.command_id) in event_rows:
                problems.append(
                    f"{step.command_id} ({step.job_id}) was applied; the rules reject it {step.code}"
                )
            elif not rejection:
                problems.append(f"acked {step.command_id} ({step.job_id}) has no rejection event")
            elif rejection[0]["reason"]["code"] != step.code:
                problems.append(
                    f"{step.command_id} rejected {rejection[0]['reason']['code']}, expected {step.code}"
                )
        elif step.outcome == DEAD:
            problems += _check_dead(acked, dead.get((acked.partition, acked.offset)))
        elif step.outcome == HEARTBEAT and (
            (step.job_id, step.command_id) in event_rows
            or f"{step.job_id}:rejected:{step.command_id}" in events
            or (acked.partition, acked.offset) in dead
        ):
            problems.append(f"heartbeat {step.command_id} ({step.job_id}) had an event; rule 16 gives none")
        elif step.outcome == ANY and not (
            (step.job_id, step.command_id) in event_rows
            or f"{step.job_id}:rejected:{step.command_id}" in events
            or (acked.partition, acked.offset) in dead
        ):
            problems.append(f"fuzzed record {acked.partition}/{acked.offset} ({step.job_id}) has no outcome")
    return problems


def check_waits(ledger: Ledger, seen: Observed, limit_s: float) -> list[str]:
    """No record waited longer than `limit_s` from its ack to its outcome (event or dead letter)."""
    first: dict[tuple[str, str], int] = {}
    for record in seen.events:
        event = orjson.loads(record.value)
        key = (event["job_id"], event["command_id"])
        first[key] = min(first.get(key, record.timestamp), record.timestamp)
    dead = {
        (int(_header(r, "source.partition")), int(_header(r, "source.offset"))): r.timestamp
        for r in seen.deadletters
    }
    problems: list[str] = []
    for acked in ledger.acked:
        step = acked.step
        at = first.get((step.job_id, str(step.command_id)), dead.get((acked.partition, acked.offset)))
        if at is not None and at / 1000 - acked.at > limit_s:
            problems.append(
                f"{step.job_id} at {acked.partition}/{acked.offset} waited {at / 1000 - acked.at:.1f}s"
            )
    return problems


def _check_applied(
    acked: Acked,
    row: dict[str, Any] | None,
    events: dict[str, list[dict[str, Any]]],
    copies: Counter[str | None],
) -> list[str]:
    step = acked.step
    if row is None:
        return [f"acked {step.command_id} ({step.job_id}) was never applied"]
    if row["seq"] != step.seq:
        return [f"{step.command_id} applied as {step.job_id}:{row['seq']}, the rules give seq {step.seq}"]
    published = events.get(row["event_id"], [])
    if len(published) < copies[step.command_id]:
        return [f"{row['event_id']} published {len(published)}x for {copies[step.command_id]} acked copies"]
    return []


def _check_dead(acked: Acked, record: Record | None) -> list[str]:
    where = f"{acked.step.job_id} at {acked.partition}/{acked.offset}"
    if record is None:
        return [f"bad input {where} ({acked.step.code}) is not in the dead-letter topic"]
    if _header(record, "error.code") != acked.step.code or not _header(record, "error.message"):
        code = _header(record, "error.code")
        return [f"bad input {where} dead-lettered as {code!r}, expected {acked.step.code}"]
    if record.value != acked.step.value or record.key != acked.step.key:
        return [f"bad input {where} was changed on its way to the dead-letter topic"]
    return []


def check_sequences(seen: Observed, events: dict[str, list[dict[str, Any]]]) -> list[str]:
    """job_events is seq 1..n per job; the events topic deduplicated by event_id is the same 1..n."""
    problems: list[str] = []
    topic_seqs: dict[str, list[int]] = defaultdict(list)
    for event_id, copies in events.items():
        if copies[0]["type"] == "job.command_rejected":
            # Not stored, so a redelivered rejection is decided again (a new occurred_at), to the same code.
            if len({copy["reason"]["code"] for copy in copies}) > 1:
                problems.append(f"{event_id} was published with different reasons")
            continue
        if any(copy != copies[0] for copy in copies[1:]):
            problems.append(f"{event_id} was published with different contents")
        topic_seqs[copies[0]["job_id"]].append(copies[0]["seq"])
    for job_id, (_, seq) in seen.jobs.items():
        rows = seen.history.get(job_id, [])
        expected = list(range(1, seq + 1))
        if [row["seq"] for row in rows] != expected:
            problems.append(f"{job_id}: job_events seqs {[row['seq'] for row in rows]} for seq {seq}")
        if sorted(topic_seqs.get(job_id, [])) != expected:
            problems.append(f"{job_id}: events topic seqs {sorted(topic_seqs.get(job_id, []))} for seq {seq}")
        for row in rows:
            if (
                row["event_id"] != f"{job_id}:{row['seq']}"
                or events.get(row["event_id"], [row["payload"]])[0] != row["payload"]
            ):
                problems.append(f"{row['event_id']}: the events topic and job_events disagree")
    return problems


def check_final_states(scripts: list[Script], seen: Observed) -> list[str]:
    """Each acked command took effect exactly once: every job ends where its script says."""
    problems: list[str] = []
    for script in scripts:
        if script.kind.startswith("bad:") or script.kind == "fuzz":  # fuzz: any outcome, checked above
            continue
        actual = seen.jobs.get(script.job_id)
        expected = (script.status, script.seq) if script.status is not None else None
        if actual != expected:
            problems.append(f"{script.job_id} ({script.kind}) is {actual}, the rules give {expected}")
    return problems


def check_table(seen: Observed) -> list[str]:
    """The Faust table agrees with Postgres on status and seq for every job."""
    problems: list[str] = []
    for job_id, (status, seq) in seen.jobs.items():
        cached = seen.table.get(job_id)
        if cached is None:
            problems.append(f"{job_id} is in Postgres ({status}, {seq}) but not in the table")
        elif (cached.status.value, cached.seq) != (status, seq):
            problems.append(
                f"{job_id}: table ({cached.status.value}, {cached.seq}), Postgres ({status}, {seq})"
            )
    problems += [
        f"{job_id} is in the table but not in Postgres" for job_id in seen.table.keys() - seen.jobs.keys()
    ]
    return problems


def check_histories(seen: Observed) -> list[str]:
    """No illegal transition in any job's history (rule 2), unless forced (rule 4)."""
    problems: list[str] = []
    for rows in seen.history.values():
        status: str | None = None
        for row in rows:
            event = row["payload"]
            if event["type"] == "job.created":
                status = event["job"]["status"]
                if Status(status) not in INITIAL:
                    problems.append(f"{row['event_id']}: created as {status}")
            elif event["type"] == "job.status_changed":
                source, target = event["from_status"], event["to_status"]
                if source != status:
                    problems.append(f"{row['event_id']}: from_status {source}, but the job was {status}")
                # Rule 15: the service's re-pend of a failed attempt is the one way back to pending.
                repend = event["command_id"].startswith("retry:") and target == Status.PENDING.value
                if not (event["forced"] or repend or transition_allowed(Status(source), Status(target))):
                    problems.append(f"{row['event_id']}: illegal {source} -> {target}")
                status = target
            if event["job"]["status"] != status:
                problems.append(
                    f"{row['event_id']}: job status {event['job']['status']}, history says {status}"
                )
    return problems


def check_deadletters(ledger: Ledger, seen: Observed, commands_topic: str) -> list[str]:
    """Only bad input is dead-lettered, each with its source and reason in the headers."""
    good = {(a.partition, a.offset) for a in ledger.acked if a.step.outcome not in (DEAD, ANY)}
    bad_values = {(a.step.key, a.step.value) for a in ledger.acked if a.step.outcome in (DEAD, ANY)}
    problems: list[str] = []
    for record in seen.deadletters:
        source = (int(_header(record, "source.partition")), int(_header(record, "source.offset")))
        if _header(record, "source.topic") != commands_topic or not _header(record, "error.code"):
            problems.append(f"dead letter from {source} lacks its source or reason headers")
        if source in good or (record.key, record.value) not in bad_values:
            problems.append(f"a good command at {source} was dead-lettered: {_header(record, 'error.code')}")
    return problems


def count(ledger: Ledger, seen: Observed) -> Counts:
    event_keys = {(row["job_id"], row["command_id"]) for rows in seen.history.values() for row in rows}
    deliveries = Counter(_command_key(record) for record in seen.commands)
    events = _events_by_id(seen.events)
    return Counts(
        sent=ledger.attempts,
        acknowledged=len(ledger.acked),
        applied=len(event_keys),
        rejected=sum(1 for event_id in events if ":rejected:" in event_id),
        duplicates_suppressed=sum(n - 1 for key, n in deliveries.items() if key in event_keys),
        dead_lettered=len({(r.partition, r.offset) for r in seen.deadletters}),
        events_published=len(seen.events),
        events_distinct=len(events),
    )


def _events_by_id(records: list[Record]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        event = orjson.loads(record.value)
        found[event["event_id"]].append(event)
    return dict(found)


def _command_key(record: Record) -> tuple[str, str] | None:
    try:
        command = orjson.loads(record.value) if record.value else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(command, dict):
        return None
    return str(command.get("job_id")), str(command.get("command_id"))


def _header(record: Record, name: str) -> str:
    return next((value.decode() for key, value in record.headers if key == name), "")

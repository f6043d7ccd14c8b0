"""One batch of consumed command records -> durable state in Postgres, events and dead letters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import orjson
import structlog

from schemas.commands import CreateCommand
from schemas.events import rejected_event
from schemas.job import JobState
from schemas.lifecycle import Applied, Duplicate, Ignored, Rejected, Touched, decide
from schemas.parsing import DeadLetter, Invalid, Parsed, parse_command
from schemas.vocabulary import RejectionCode
from storage.job_store import BatchWrite, JobStore, JobTransaction, StoredOutcomes
from streams import metrics, tracing
from streams.failures import describe
from streams.kafka.deadletter import report_dead_letter
from streams.kafka.producer import DurableProducer, OutRecord
from streams.recent import RecentlySeen
from streams.settings import Topics

log = structlog.get_logger(__name__)

# A batch holding a command this processor wrote lately goes straight to the locked path: a resend's
# earlier outcome must be read first, so the one statement would write nothing and the batch would be
# decided twice (with 1 % of commands resent, most 125-command batches would be). Only a route: an older
# resend is still caught by the statement's guard. Keys are hashes (~130 bytes each: ~13 MB when full).
RECENT_COMMANDS = 100_000


@dataclass(frozen=True, slots=True)
class Record:
    """A consumed command record; `context` is what the state cache needs to route it (Faust's event)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    context: Any = None
    traceparent: str | None = None  # W3C trace context from the record's headers (streams/tracing.py)


class Emitted(NamedTuple):
    """An outcome of the batch to publish: its event (None: the stored one of `seq`), and its command."""

    job_id: str
    event: bytes | None
    seq: int
    record: Record


class StateCache(Protocol):
    """The validator's fast path; `context` routes each job (Faust: the event that touched it)."""

    def get_many(self, items: Iterable[tuple[Any, str]]) -> dict[str, JobState | None]: ...
    def put_many(self, items: Iterable[tuple[Any, JobState]]) -> None: ...
    def delete_many(self, items: Iterable[tuple[Any, str]]) -> None: ...
    async def confirm(self) -> None: ...


@dataclass(slots=True)
class BatchResult:
    """What one batch produced; `states` are written to the cache once everything is durable."""

    events: list[OutRecord] = field(default_factory=list)
    states: dict[str, tuple[Any, JobState]] = field(default_factory=dict)
    deleted: dict[str, Any] = field(default_factory=dict)  # job id -> context, removed from the cache
    n_applied: int = 0
    n_rejected: int = 0
    n_duplicates: int = 0
    n_dead_lettered: int = 0
    n_heartbeats: int = 0


class CommandProcessor:
    """Validates against cached state verified by Postgres, writes once per batch, then publishes."""

    def __init__(
        self,
        store: JobStore,
        cache: StateCache,
        producer: DurableProducer,
        topics: Topics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.cache = cache
        self.producer = producer
        self.topics = topics
        self.clock = clock
        self.written: RecentlySeen[int] = RecentlySeen(RECENT_COMMANDS)  # hashes of (job id, command id)

    async def process(self, records: Sequence[Record]) -> BatchResult:
        """One attempt; the caller retries the whole batch on failure (a retry finds what this one
        committed and turns it into duplicates) and acks only after this returns."""
        started = time.perf_counter()
        dead: list[OutRecord] = []
        work: list[tuple[Record, Parsed | Invalid]] = []
        for record in records:
            parsed = parse_command(record.key, record.value)
            if isinstance(parsed, DeadLetter):
                dead.append(self._dead_letter(record, parsed))
            else:
                work.append((record, parsed))
        result = await self._apply(work) if work else BatchResult()
        # The states' changelog records are sent while the events are; both must be durable.
        self.cache.put_many(result.states.values())
        self.cache.delete_many((context, job_id) for job_id, context in result.deleted.items())
        await self.producer.send_all([*dead, *result.events])
        await self.cache.confirm()
        result.n_dead_lettered = len(dead)
        self._observe(records, result)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _apply(self, work: list[tuple[Record, Parsed | Invalid]]) -> BatchResult:
        """Decide and write the batch: in one statement if Postgres holds what the state table does (the
        usual case), else in a transaction that locks the jobs and reloads what the table lacks."""
        now = self.clock()
        first: dict[str, Record] = {}
        for record, parsed in work:
            first.setdefault(_job_id(parsed), record)
        cached = self.cache.get_many((first[job_id].context, job_id) for job_id in first)
        keys = [hash((_job_id(parsed), _command_id(parsed))) for _, parsed in work]
        result = None
        if not any(key in self.written for key in keys):
            result = await self._apply_unchanged(work, cached, now)
            if result is None:
                metrics.BATCH_FALLBACKS.inc()
        if result is not None:
            metrics.BATCH_WRITES.labels("unchanged").inc()
        else:
            result = await self._apply_locked(work, first, cached, now)
            metrics.BATCH_WRITES.labels("locked").inc()
        for key in keys:
            self.written.add(key)
        return result

    async def _apply_unchanged(
        self, work: list[tuple[Record, Parsed | Invalid]], cached: dict[str, JobState | None], now: datetime
    ) -> BatchResult | None:
        """Rule 11's fast path: decided on the cached states alone, written only if Postgres (locking
        the jobs within the same statement) agrees that nothing of the batch has happened yet. None when
        that is unknown or untrue (a delete, a duplicate whose event is stored, another writer since)."""
        result = BatchResult()
        write, emitted = self._plan(work, dict(cached), StoredOutcomes(), set(), now, result)
        if write.deleted or any(e.event is None for e in emitted):
            return None
        seqs = {job_id: (state.seq if state is not None else None) for job_id, state in cached.items()}
        commands = [(_job_id(parsed), _command_id(parsed)) for _, parsed in work]
        if not await self.store.write_if_unchanged(write, seqs, commands):
            log.debug("batch.changed_in_postgres", jobs=len(seqs))
            return None
        self._publish(emitted, {}, result)
        return result

    async def _apply_locked(
        self,
        work: list[tuple[Record, Parsed | Invalid]],
        first: dict[str, Record],
        cached: dict[str, JobState | None],
        now: datetime,
    ) -> BatchResult:
        result = BatchResult()
        async with self.store.transaction() as tx:
            states, deleted = await self._verified_states(tx, first, cached, result)
            # Earlier outcomes, from Postgres: the seq an applied command produced (rule 7), and
            # rejections, which are final too: a redelivered or retried rejected command re-emits its
            # rejection rather than being decided again against what later commands made of the job.
            prior = await tx.stored_outcomes((_job_id(p), _command_id(p)) for _, p in work)
            write, emitted = self._plan(work, states, prior, deleted, now, result)
            # Before the write: a duplicate's stored event may belong to a job this batch deletes.
            stored = await tx.stored_events([(e.job_id, e.seq) for e in emitted if e.event is None])
            await tx.write(write)
        self._publish(emitted, stored, result)
        return result

    def _plan(
        self,
        work: list[tuple[Record, Parsed | Invalid]],
        states: dict[str, JobState | None],
        prior: StoredOutcomes,
        deleted: set[str],
        now: datetime,
        result: BatchResult,
    ) -> tuple[BatchWrite, list[Emitted]]:
        """Each command decided in order against `states` (updated as it goes): what to write, and the
        outcomes to publish once it is written."""
        start_seq = {job_id: (s.seq if s is not None else None) for job_id, s in states.items()}
        write = BatchWrite()
        emitted: list[Emitted] = []
        in_batch: dict[tuple[str, int], bytes] = {}
        touched: set[str] = set()  # jobs a heartbeat changed without a new seq (rule 16)
        for record, parsed in work:
            job_id = _job_id(parsed)
            key = (job_id, _command_id(parsed))
            job = states[job_id]
            earlier = prior.rejections.get(key)
            if earlier is not None and orjson.loads(earlier).get("command") == parsed.raw:
                emitted.append(Emitted(job_id, earlier, 0, record))
                result.n_duplicates += 1
                continue
            if isinstance(parsed, Invalid):
                rejection = rejected_event(
                    job_id, parsed.command_id, RejectionCode.VALIDATION_ERROR, parsed.message,
                    parsed.raw, job, now,
                )  # fmt: skip
                prior.rejections[key] = self._reject(rejection, record, emitted, write)
                result.n_rejected += 1
                continue
            decision = decide(
                job,
                parsed.command,
                now,
                prior.event_seqs.get(key),
                job_id in deleted,
                (record.partition, record.offset),
            )
            if isinstance(decision, Applied) and decision.deleted:
                prior.event_seqs[key] = decision.job.seq
                states[job_id] = None
                deleted.add(job_id)
                result.states.pop(job_id, None)
                result.deleted[job_id] = record.context
                encoded = orjson.dumps(decision.event)
                in_batch[(job_id, decision.job.seq)] = encoded
                emitted.append(Emitted(job_id, encoded, decision.job.seq, record))
                write.events.append(encoded)
                write.deleted.append(job_id)
                result.n_applied += 1
            elif isinstance(decision, Applied):
                new = decision.job
                prior.event_seqs[key] = new.seq
                states[job_id] = new
                result.states[job_id] = (record.context, new)
                encoded = orjson.dumps(decision.event)  # once: the same bytes go to Postgres and Kafka
                in_batch[(job_id, new.seq)] = encoded
                emitted.append(Emitted(job_id, encoded, new.seq, record))
                write.events.append(encoded)
                write.messages.extend((job_id, m, now) for m in decision.message_ids)
                command = parsed.command
                if isinstance(command, CreateCommand) and command.items:
                    write.batch_items.extend((job_id, i.custom_id, i.job_id, now) for i in command.items)
                result.n_applied += 1
            elif isinstance(decision, Duplicate):
                emitted.append(Emitted(job_id, in_batch.get((job_id, decision.seq)), decision.seq, record))
                result.n_duplicates += 1
                if job is not None:  # a redelivery: see _verified_states
                    result.states[job_id] = (record.context, job)
                elif job_id in deleted:  # a redelivered delete: the table may have missed its tombstone
                    result.deleted[job_id] = record.context
            elif isinstance(decision, Touched):
                # No event and no seq: the row and the table take the heartbeat, once per batch.
                states[job_id] = decision.job
                result.states[job_id] = (record.context, decision.job)
                touched.add(job_id)
                result.n_heartbeats += 1
            elif isinstance(decision, Ignored):
                result.n_heartbeats += 1
            elif isinstance(decision, Rejected):
                rejection = rejected_event(
                    job_id,
                    parsed.command.command_id,
                    decision.code,
                    decision.message,
                    parsed.raw,
                    job,
                    now,
                )
                prior.rejections[key] = self._reject(rejection, record, emitted, write)
                result.n_rejected += 1
        for job_id, state in states.items():
            before = start_seq[job_id]
            if state is None or (state.seq == before and job_id not in touched):
                continue
            if before is None:
                write.created.append(state)
            else:
                write.updated.append((state, before))
        return write, emitted

    def _publish(
        self, emitted: list[Emitted], stored: dict[tuple[str, int], bytes], result: BatchResult
    ) -> None:
        for e in emitted:
            value = e.event if e.event is not None else stored[(e.job_id, e.seq)]
            # A traced command's event continues its trace (docs/contract.md §11); others carry none.
            carried = tracing.mark(
                "jobstream.command", e.record.traceparent, e.record.timestamp_ms, job_id=e.job_id
            )
            result.events.append(
                OutRecord(self.topics.events, e.job_id.encode(), value, tracing.record_headers(carried))
            )

    async def give_up(self, record: Record, error: Exception) -> None:
        """Settle a record that failed on every attempt: a stored `internal_error` rejection, which a
        redelivery re-emits. Raises when even that fails; the caller then dead-letters the record."""
        await self.producer.send_all([await self._final_outcome(record, error)])

    async def _final_outcome(self, record: Record, error: Exception) -> OutRecord:
        parsed = parse_command(record.key, record.value)
        if isinstance(parsed, DeadLetter):
            return self._dead_letter(record, parsed)
        job_id, command_id = _job_id(parsed), _command_id(parsed)
        key = (job_id, command_id)
        async with self.store.transaction() as tx:
            prior = await tx.stored_outcomes([key])
            if key in prior.event_seqs:  # it failed after its commit (publishing): its event is the outcome
                stored = await tx.stored_events([(job_id, prior.event_seqs[key])])
                return OutRecord(self.topics.events, job_id.encode(), stored[(job_id, prior.event_seqs[key])])
            if key not in prior.rejections:
                job = (await tx.load([job_id])).get(job_id)
                if job is not None and parsed.raw.get("organization_id") not in (None, job.organization_id):
                    job = None  # another organization's job: its state is not the sender's to see
                message = f"the service failed on this command every time it tried: {describe(error)}"
                rejection = rejected_event(
                    job_id, command_id, RejectionCode.INTERNAL_ERROR, message, parsed.raw, job, self.clock()
                )
                await tx.write(BatchWrite(rejections=[orjson.dumps(rejection)]))
                prior = await tx.stored_outcomes([key])
                metrics.COMMANDS.labels("rejected").inc()
        return OutRecord(self.topics.events, job_id.encode(), prior.rejections[key])

    @staticmethod
    def _reject(
        rejection: dict[str, Any], record: Record, emitted: list[Emitted], write: BatchWrite
    ) -> bytes:
        """Emit a rejection and store it with the batch, so its outcome survives a redelivery."""
        encoded = orjson.dumps(rejection)
        emitted.append(Emitted(rejection["job_id"], encoded, 0, record))
        write.rejections.append(encoded)
        return encoded

    async def _verified_states(
        self,
        tx: JobTransaction,
        first: dict[str, Record],
        cached: dict[str, JobState | None],
        result: BatchResult,
    ) -> tuple[dict[str, JobState | None], set[str]]:
        """Cached state where Postgres (locked) agrees on seq, else reloaded from Postgres (rule 11).

        A reloaded state, and the state of a job with a duplicate, go back to the cache even if the batch
        changes nothing: a worker killed after its commit may have lost the cache write, or kept it in its
        local store but not in the changelog another worker restores from; the redelivered commands are
        then all duplicates, and the table would stay behind Postgres for good. Also returns which
        of the batch's jobs were deleted (rule 14)."""
        locked = await tx.lock(first)
        seqs = locked.seqs
        states: dict[str, JobState | None] = {job_id: None for job_id in first if job_id not in seqs}
        stale: list[str] = []
        for job_id, seq in seqs.items():
            state = cached[job_id]
            if state is not None and state.seq == seq:
                states[job_id] = state
            else:
                stale.append(job_id)
        if stale:
            reloaded = await tx.load(stale)
            states.update(reloaded)
            result.states.update((job_id, (first[job_id].context, s)) for job_id, s in reloaded.items())
            log.debug("batch.reloaded", jobs=len(stale))
        return states, locked.deleted

    def _dead_letter(self, record: Record, reason: DeadLetter) -> OutRecord:
        return report_dead_letter(self.topics.deadletter, record, reason, "command.dead_lettered")

    @staticmethod
    def _observe(records: Sequence[Record], result: BatchResult) -> None:
        metrics.BATCH_SIZE.observe(len(records))
        for outcome, count in (
            ("applied", result.n_applied),
            ("rejected", result.n_rejected),
            ("duplicate", result.n_duplicates),
            ("heartbeat", result.n_heartbeats),
            ("dead_lettered", result.n_dead_lettered),
        ):
            if count:
                metrics.COMMANDS.labels(outcome).inc(count)
        now_ms = time.time() * 1000
        for record in records:
            if record.timestamp_ms:
                metrics.LATENCY.observe(max(0.0, (now_ms - record.timestamp_ms) / 1000))


def _job_id(parsed: Parsed | Invalid) -> str:
    return parsed.command.job_id if isinstance(parsed, Parsed) else parsed.job_id


def _command_id(parsed: Parsed | Invalid) -> str:
    return parsed.command.command_id if isinstance(parsed, Parsed) else parsed.command_id

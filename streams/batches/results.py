"""The `batches.results` agent: stores item results, then issues the lifecycle commands they imply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import faust
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.batch_results import BatchOutcome, BatchPollResult, ItemResult, ItemResultType, item_result_id
from schemas.errors import describe_errors
from schemas.parsing import DeadLetter, decode_object
from schemas.vocabulary import Status
from storage.queries.batch_cancels import CancelRequest, cancel_finished, finish_cancel
from storage.queries.batches import (
    find_batch_job,
    item_jobs,
    record_provider_state,
    recorded_counts,
    resume_items,
    store_item_results,
    unrecorded_items,
)
from streams.batches.decisions import BatchView, ChildJob, batch_commands
from streams.batches.resume import finished_notices
from streams.kafka.consuming import durable_agent, raw_topic
from streams.kafka.deadletter import Consumed, report_dead_letter
from streams.kafka.producer import DurableProducer, OutRecord, json_record
from streams.kafka.runtime import Runtime
from streams.kafka.settlement import GiveUp, Handler
from streams.settings import Settings, Topics

log = structlog.get_logger(__name__)

# A poll message carries up to 200 items; this bounds one round's Postgres work to ~10k rows.
MAX_MESSAGES = 50


def parse_poll_result(key: bytes | None, value: bytes | None) -> BatchPollResult | DeadLetter:
    """A message we can apply, or why it goes to the dead-letter topic (same rules as commands)."""
    raw = decode_object(value, "a poll result")
    if isinstance(raw, DeadLetter):
        return raw
    try:
        result = BatchPollResult.model_validate(raw)
    except ValidationError as exc:
        return DeadLetter("invalid_poll_result", describe_errors(exc, "poll result"))
    key_text = key.decode("utf-8", "replace") if key is not None else None
    if key_text != result.batch_job_id:
        return DeadLetter(
            "key_mismatch", f"record key {key_text!r} differs from batch_job_id {result.batch_job_id!r}"
        )
    return result


class BatchResultsHandler:
    """One round of poll results -> Postgres first, then commands; safe to repeat after any failure.

    Item results are upserted (a repeat changes nothing) and every command has a deterministic id
    (a repeat is a duplicate, rule 7), so the agent retries a whole round rather than tracking
    which part of it got through.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        producer: DurableProducer,
        topics: Topics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.topics = topics
        self.clock = clock

    async def handle(self, messages: Sequence[Consumed]) -> None:
        out: list[OutRecord] = []
        concluded: list[CancelRequest] = []
        groups: dict[str, list[tuple[Consumed, BatchPollResult]]] = {}
        for message in messages:
            parsed = parse_poll_result(message.key, message.value)
            if isinstance(parsed, DeadLetter):
                out.append(self._dead_letter(message, parsed))
            else:
                groups.setdefault(parsed.batch_job_id, []).append((message, parsed))
        for batch_job_id, group in groups.items():
            out.extend(await self._apply(batch_job_id, group, concluded))
        await self.producer.send_all(out)
        for batch in concluded:  # only once its notices are out: a failed round sends them again
            await finish_cancel(self.engine, batch)

    async def _apply(
        self,
        batch_job_id: str,
        group: list[tuple[Consumed, BatchPollResult]],
        concluded: list[CancelRequest],
    ) -> list[OutRecord]:
        batch = await find_batch_job(self.engine, batch_job_id)
        if batch is None:
            reason = DeadLetter("batch_not_found", f"no batch job {batch_job_id!r} in Postgres")
            return [self._dead_letter(message, reason) for message, _ in group]
        results = [result for _, result in group]
        await record_provider_state(self.engine, max(results, key=lambda r: r.polled_at))
        items = [item for result in results for item in result.items]
        if items:
            await store_item_results(self.engine, batch_job_id, items, self.clock())
        total, recorded = await recorded_counts(self.engine, batch_job_id)
        unanswered: list[ItemResult] = []
        concluding = next((r for r in reversed(results) if r.ended and r.final), None)
        cut_short = concluding is not None and (
            concluding.end_state != "completed" or batch.status == Status.CANCELLED.value
        )
        if recorded < total and concluding is not None:
            # The provider has ended the batch and sent every result it has: an item it never answered
            # would otherwise keep the batch `running` (and the poller polling) for ever. In a batch cut
            # short such an item never ran to an answer: it ends as the batch did (cancelled, expired).
            missing = _missing_type(concluding.end_state, batch.status)
            unanswered = await self._missing_results(batch_job_id, missing)
            await store_item_results(self.engine, batch_job_id, unanswered, self.clock())
            total, recorded = await recorded_counts(self.engine, batch_job_id)
        rows = (
            await item_jobs(self.engine, batch_job_id, {item.custom_id for item in [*items, *unanswered]})
            if items or unanswered
            else {}
        )
        children = {custom_id: ChildJob(row.job_id, row.job_status) for custom_id, row in rows.items()}
        view = BatchView(batch.status, total, recorded, children)
        commands = batch_commands(batch_job_id, results, view, unanswered)
        if batch.organization_id is not None:
            # The batch's tenant signs every command it causes: an item naming another organization's
            # job is rejected `forbidden` by the validator instead of changing that job.
            for command in commands:
                command["organization_id"] = batch.organization_id
        out = [json_record(self.topics.commands, command["job_id"], command) for command in commands]
        # A batch cut short (cancelled, expired, failed) never completes, so the resume agent never sees
        # it: its finished items are resumed here, once (several pollers may publish the same final
        # results), and a cancel this service sent is done with: pollers stop asking.
        if (
            concluding is not None
            and cut_short
            and recorded == total
            and not await cancel_finished(self.engine, batch_job_id)
        ):
            resumed = await resume_items(self.engine, batch_job_id)
            out.extend(finished_notices(self.topics, batch_job_id, resumed))
            concluded.append(CancelRequest(batch_job_id, concluding.provider, concluding.provider_batch_id))
        log.info(
            "batches.results_applied",
            batch_job_id=batch_job_id,
            messages=len(group),
            items=len(items),
            recorded=recorded,
            total=total,
            commands=len(commands),
            provider_status=results[-1].provider_status,
        )
        return out

    async def _missing_results(self, batch_job_id: str, result_type: ItemResultType) -> list[ItemResult]:
        error = {
            "type": "missing_result",
            "message": "the provider ended the batch without this item's result",
        }
        return [
            ItemResult(
                result_id=item_result_id(batch_job_id, custom_id, result_type),
                custom_id=custom_id,
                result_type=result_type,
                result={"type": result_type, "error": error},
            )
            for custom_id in await unrecorded_items(self.engine, batch_job_id)
        ]

    def _dead_letter(self, message: Consumed, reason: DeadLetter) -> OutRecord:
        return report_dead_letter(self.topics.deadletter, message, reason, "batches.result_dead_lettered")


def _missing_type(end_state: BatchOutcome | None, batch_status: str) -> ItemResultType:
    """What an item the provider ended the batch without is recorded as."""
    if end_state == "cancelled" or batch_status == Status.CANCELLED.value:
        return "canceled"
    return "expired" if end_state == "expired" else "errored"


def register(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    def build_handler() -> tuple[Handler, GiveUp | None]:
        handler = BatchResultsHandler(runtime.engine, runtime.producer, settings.topics)

        async def handle(events: Sequence[faust.EventT]) -> None:
            await handler.handle([event.message for event in events])

        return handle, None  # a record that fails every time is dead-lettered

    topic = raw_topic(app, settings.topics.batch_results, settings.partitions)
    durable_agent(
        app,
        topic,
        "jobstream.batch_results",
        runtime,
        build_handler,
        settings.topics.deadletter,
        MAX_MESSAGES,
        settings.batch_within_s,
    )

"""The validator (docs/contract.md §4): state + command -> new state and event, duplicate, or rejection.

No I/O.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import json_merge_patch
import orjson

from schemas.bounds import MAX_JSON_BYTES
from schemas.commands import (
    AttachMessagesCommand,
    CancelCommand,
    Command,
    CreateCommand,
    DeleteCommand,
    HeartbeatCommand,
    HeartbeatTimeoutCommand,
    RecordCallbackCommand,
    RetryCommand,
    TransitionCommand,
    UpdateMetadataCommand,
)
from schemas.content import content_problem
from schemas.events import applied_event
from schemas.job import JobState
from schemas.retries import policy_document, retries, retry_at
from schemas.vocabulary import EventType, RejectionCode, Status, StopReason


@dataclass(frozen=True, slots=True)
class Applied:
    """`job` is the state after the command; for a delete (`deleted`), the job as its last event shows it."""

    job: JobState
    event: dict[str, Any]
    message_ids: tuple[str, ...] = ()
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Rule 7: the command was applied before, as this seq; its stored event is re-emitted."""

    seq: int


@dataclass(frozen=True, slots=True)
class Rejected:
    code: RejectionCode
    message: str


@dataclass(frozen=True, slots=True)
class Touched:
    """Rule 16: a heartbeat changed the job's row (its heartbeat times) but not its seq: no event."""

    job: JobState


@dataclass(frozen=True, slots=True)
class Ignored:
    """Rule 16: a heartbeat read again after a worker's crash (at or before the last applied): no write."""


Decision = Applied | Duplicate | Rejected | Touched | Ignored


def transition_allowed(current: Status, target: Status) -> bool:
    """Rule 2, always on (Letta's guard, which Letta ships switched off)."""
    return (
        (target.is_terminal and not current.is_terminal)
        or (current is Status.CREATED and target is not Status.CREATED)
        or (current is Status.PENDING and target is Status.RUNNING)
    )


def decide(
    job: JobState | None,
    command: Command,
    now: datetime,
    applied_as: int | None = None,
    deleted: bool = False,
    position: tuple[int, int] | None = None,
) -> Decision:
    """Apply one command to one job's state; `job` is never mutated.

    `applied_as` is the seq this command id produced on this job before, if it was applied already
    (rule 7): the caller looks it up in Postgres, so the state need not carry the job's history.
    `deleted`: the id belonged to a job that was deleted (rule 14); its events' ids are taken for good.
    `position`: the command's (partition, offset) on `jobs.commands`, which tells a heartbeat read again."""
    # Tenancy first: another organization learns nothing, not even whether its command id was used.
    if (
        job is not None
        and command.organization_id is not None
        and command.organization_id != job.organization_id
    ):
        return Rejected(RejectionCode.FORBIDDEN, "the command's organization_id differs from the job's")
    if applied_as is not None and (job is not None or (deleted and isinstance(command, DeleteCommand))):
        return Duplicate(applied_as)  # a deleted job's `delete` stays on record (rule 14)
    if isinstance(command, CreateCommand):
        if deleted:
            return Rejected(
                RejectionCode.JOB_EXISTS,
                f"job {command.job_id!r} was deleted; a job id is not reused (its event ids are taken)",
            )
        return _create(job, command, now)
    if job is None:
        return Rejected(RejectionCode.JOB_NOT_FOUND, f"job {command.job_id!r} does not exist")
    if isinstance(command, TransitionCommand):
        return _transition(job, command, command.status, command.stop_reason, now)
    if isinstance(command, CancelCommand):
        return _transition(job, command, Status.CANCELLED, command.stop_reason, now)
    if isinstance(command, UpdateMetadataCommand):
        new = _next(job, now)
        new.metadata = merge_patch(job.metadata, command.metadata)
        _record_timings(new, command)
        return _oversized(new.metadata) or Applied(
            new, applied_event(EventType.METADATA_UPDATED, new, command.command_id, now)
        )
    if isinstance(command, DeleteCommand):
        new = _next(job, now)
        # The tombstone event stays stored (rule 14): it keeps no data the producer gave the job.
        new.metadata, new.request_config, new.callback_url = {}, None, None
        return Applied(new, applied_event(EventType.DELETED, new, command.command_id, now), deleted=True)
    if isinstance(command, AttachMessagesCommand):
        new = _next(job, now)
        ids = tuple(dict.fromkeys(command.message_ids))
        event = applied_event(
            EventType.MESSAGES_ATTACHED, new, command.command_id, now, message_ids=list(ids)
        )
        return Applied(new, event, ids)
    if isinstance(command, HeartbeatCommand):
        return _heartbeat(job, now, position)
    if isinstance(command, RetryCommand):
        return _retry(job, command, now)
    if isinstance(command, HeartbeatTimeoutCommand):
        return _heartbeat_timeout(job, command, now)
    if isinstance(command, RecordCallbackCommand):
        new = _next(job, now)
        new.callback_sent_at = command.sent_at
        new.callback_status_code = command.status_code
        new.callback_error = command.error
        new.callback_attempts = command.attempts
        return Applied(new, applied_event(EventType.CALLBACK_RECORDED, new, command.command_id, now))
    raise TypeError(f"no rule for {type(command).__name__}")  # pragma: no cover - the union is closed


def _create(job: JobState | None, command: CreateCommand, now: datetime) -> Decision:
    if job is not None:
        return Rejected(RejectionCode.JOB_EXISTS, f"job {command.job_id!r} already exists")
    # The parser refuses these already (and the metadata's size is bounded by its type); a command
    # that did not come through it is held to the same rules.
    problem = content_problem(command)
    if problem is not None:
        return Rejected(RejectionCode.VALIDATION_ERROR, problem)
    timeout = command.timeout_seconds
    new = JobState(
        id=command.job_id,
        job_type=command.job_type,
        status=command.status,
        seq=1,
        created_at=now,
        updated_at=now,
        metadata=dict(command.metadata),
        organization_id=command.organization_id,
        agent_id=command.agent_id,
        background=command.background,
        request_config=command.request_config,
        batch_id=command.batch_id,
        provider=command.provider,
        provider_batch_id=command.provider_batch_id,
        callback_url=command.callback_url,
        timeout_seconds=timeout,
        expires_at=now + timedelta(seconds=timeout) if timeout is not None else None,
        heartbeat_timeout_seconds=command.heartbeat_timeout_seconds,
    )
    if command.retry_policy is not None:
        new.retry_policy = policy_document(command.retry_policy)
        new.max_attempts = command.retry_policy.max_attempts
    _start_heartbeat_clock(new, now)
    return Applied(new, applied_event(EventType.CREATED, new, command.command_id, now))


def _transition(
    job: JobState,
    command: TransitionCommand | CancelCommand | HeartbeatTimeoutCommand,
    target: Status,
    stop_reason: StopReason | None,
    now: datetime,
) -> Decision:
    expected = command.expected_status if isinstance(command, TransitionCommand) else None
    if expected is not None and expected is not job.status:
        return Rejected(
            RejectionCode.STATUS_MISMATCH, f"expected status {expected.value}, job is {job.status.value}"
        )
    forced = isinstance(command, TransitionCommand) and command.force
    if not forced and job.retry_at is not None and target not in _DURING_BACKOFF:
        return Rejected(
            RejectionCode.INVALID_TRANSITION,
            f"attempt {job.attempt} failed and waits for its retry at {job.retry_at.isoformat()}: "
            "only cancelled or expired now (rule 15)",
        )
    if not forced and not transition_allowed(job.status, target):
        return Rejected(
            RejectionCode.INVALID_TRANSITION, f"{job.status.value} -> {target.value} is not allowed"
        )
    new = _next(job, now)
    if isinstance(command, TransitionCommand):
        if command.metadata is not None:
            new.metadata = merge_patch(job.metadata, command.metadata)
            if too_big := _oversized(new.metadata):
                return too_big
        _record_timings(new, command)
    reason = stop_reason.value if stop_reason is not None else None
    if not forced and target is Status.FAILED and retries(job, reason):
        return _attempt_failed(job, new, command.command_id, reason, now)
    new.status = target
    if stop_reason is not None:
        new.stop_reason = stop_reason.value
    new.retry_at = None  # a terminal status ends any backoff; a forced one is the operator's call
    if target is not job.status or forced:
        _start_heartbeat_clock(new, now)
    if target.is_terminal and not job.status.is_terminal:
        new.completed_at = now
    elif not target.is_terminal:
        new.completed_at = None  # rule 5: leaving a terminal status (by force) clears it
        if job.status.is_terminal:
            new.expires_at = None  # a re-opened job is the operator's now: its old deadline has passed
    if not target.is_terminal and stop_reason is None:
        new.stop_reason = None  # a stop reason describes how a job stopped; a running job has none
    return Applied(new, _status_changed(job, new, command.command_id, now, forced))


def _status_changed(
    job: JobState, new: JobState, command_id: str, now: datetime, forced: bool, **extra: Any
) -> dict[str, Any]:
    return applied_event(
        EventType.STATUS_CHANGED,
        new,
        command_id,
        now,
        from_status=job.status.value,
        to_status=new.status.value,
        stop_reason=new.stop_reason,
        forced=forced,
        **extra,
    )


def _situation(job: JobState) -> str:
    """What a job is, for rejections of rules 15 and 16: its status, or that it waits for a retry."""
    return job.status.value if job.retry_at is None else f"waiting to retry attempt {job.attempt}"


# Rule 15: what a job waiting out a backoff still accepts (a cancel wins; its own deadline still holds).
_DURING_BACKOFF = frozenset({Status.CANCELLED, Status.EXPIRED})


def _attempt_failed(
    job: JobState, new: JobState, command_id: str, reason: str | None, now: datetime
) -> Applied:
    """Rule 15: the failure is the attempt's, not the job's; the job keeps its status until re-pended."""
    new.stop_reason = reason
    new.retry_at = retry_at(job, now)
    new.heartbeat_expires_at = None  # nothing runs during the backoff
    event = applied_event(
        EventType.ATTEMPT_FAILED,
        new,
        command_id,
        now,
        attempt=job.attempt,
        stop_reason=reason,
        retry_at=new.retry_at.isoformat(),
    )
    return Applied(new, event)


def _retry(job: JobState, command: RetryCommand, now: datetime) -> Decision:
    """Rule 15: the backoff of failed attempt `command.attempt` is over; the next attempt is pending."""
    if job.retry_at is None or job.attempt != command.attempt or job.status.is_terminal:
        return Rejected(
            RejectionCode.INVALID_TRANSITION,
            f"attempt {command.attempt} has no retry due: the job is {_situation(job)}",
        )
    new = _next(job, now)
    new.status = Status.PENDING
    new.attempt = job.attempt + 1
    new.retry_at = None
    new.stop_reason = None
    new.heartbeat_expires_at = None
    return Applied(new, _status_changed(job, new, command.command_id, now, False, attempt=new.attempt))


def _heartbeat_timeout(job: JobState, command: HeartbeatTimeoutCommand, now: datetime) -> Decision:
    """Rule 16: fail the running job whose deadline lapsed, as a runner's own failure would (rule 15)."""
    if job.status is not Status.RUNNING or job.heartbeat_expires_at != command.deadline:
        now_due = job.heartbeat_expires_at.isoformat() if job.heartbeat_expires_at else "none"
        return Rejected(
            RejectionCode.INVALID_TRANSITION,
            f"heartbeat deadline {command.deadline.isoformat()} is not the job's: it is {job.status.value},"
            f" its deadline {now_due}",
        )
    return _transition(job, command, Status.FAILED, StopReason.HEARTBEAT_TIMEOUT, now)


def _heartbeat(job: JobState, now: datetime, position: tuple[int, int] | None) -> Decision:
    """Rule 16: a running job's runner is alive; the deadline moves, nothing else does (no seq, no event).

    Heartbeat command ids are not stored (that would grow with every heartbeat); the job keeps where its
    last applied heartbeat was read instead. A job's commands are read from one partition in order, so a
    heartbeat at or before that position is one read again after a worker's crash: it changes nothing,
    and is not decided again against what later commands made of the job (never both applied and
    rejected, rule 12)."""
    if position is not None and _read_before(job, position):
        return Ignored()
    if job.status is not Status.RUNNING or job.retry_at is not None:
        return Rejected(
            RejectionCode.INVALID_TRANSITION, f"heartbeat: the job is {_situation(job)}, not running"
        )
    new = job.copy()
    new.last_heartbeat_at = now
    if position is not None:
        new.heartbeat_partition, new.heartbeat_offset = position
    if job.heartbeat_timeout_seconds is not None:
        new.heartbeat_expires_at = now + timedelta(seconds=job.heartbeat_timeout_seconds)
    return Touched(new)


def _read_before(job: JobState, position: tuple[int, int]) -> bool:
    partition, offset = position
    return (
        job.heartbeat_partition == partition
        and job.heartbeat_offset is not None
        and offset <= job.heartbeat_offset
    )


def _start_heartbeat_clock(new: JobState, now: datetime) -> None:
    """Rule 16: entering `running` gives the runner one timeout for its first heartbeat; leaving stops it."""
    timeout = new.heartbeat_timeout_seconds
    new.heartbeat_expires_at = None
    if new.status is Status.RUNNING and timeout is not None:
        new.heartbeat_expires_at = now + timedelta(seconds=timeout)


def _record_timings(new: JobState, command: TransitionCommand | UpdateMetadataCommand) -> None:
    if command.ttft_ns is not None:
        new.ttft_ns = command.ttft_ns
    if command.total_duration_ns is not None:
        new.total_duration_ns = command.total_duration_ns


def _oversized(metadata: dict[str, Any]) -> Rejected | None:
    """Every event carries the whole job: merged metadata must stay within what a create may carry."""
    size = len(orjson.dumps(metadata))
    if size > MAX_JSON_BYTES:
        return Rejected(
            RejectionCode.VALIDATION_ERROR,
            f"metadata would be {size} bytes; the limit is {MAX_JSON_BYTES}",
        )
    return None


def merge_patch(document: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Rule 6, RFC 7386; the library merges in place, so it gets a copy."""
    merged: dict[str, Any] = json_merge_patch.merge(copy.deepcopy(document), patch)
    return merged


def _next(job: JobState, now: datetime) -> JobState:
    new = job.copy()
    new.seq = job.seq + 1
    new.updated_at = now
    return new

"""Statuses, job types and stop reasons: the words producers and consumers share (docs/contract.md §1)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """One meaning of terminal for everything: status guard, completed_at and callbacks."""
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED})
INITIAL = frozenset({Status.CREATED, Status.PENDING, Status.RUNNING})


class JobType(StrEnum):
    JOB = "job"
    RUN = "run"
    BATCH = "batch"


class StopReason(StrEnum):
    END_TURN = "end_turn"
    ERROR = "error"
    LLM_API_ERROR = "llm_api_error"
    INVALID_LLM_RESPONSE = "invalid_llm_response"
    INVALID_TOOL_CALL = "invalid_tool_call"
    MAX_STEPS = "max_steps"
    MAX_TOKENS_EXCEEDED = "max_tokens_exceeded"
    NO_TOOL_CALL = "no_tool_call"
    TOOL_RULE = "tool_rule"
    CANCELLED = "cancelled"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    REQUIRES_APPROVAL = "requires_approval"
    CONTEXT_WINDOW_OVERFLOW_IN_SYSTEM_PROMPT = "context_window_overflow_in_system_prompt"
    USER_CANCELLED = "user_cancelled"
    TIMEOUT_EXCEEDED = "timeout_exceeded"
    RESOURCE_LIMIT_EXCEEDED = "resource_limit_exceeded"
    VALIDATION_ERROR = "validation_error"
    PROVIDER_ERROR = "provider_error"
    INTERNAL_ERROR = "internal_error"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"  # rule 16: a running job's runner stopped heartbeating


class RejectionCode(StrEnum):
    """Why a well-formed command changed nothing (docs/contract.md §4)."""

    JOB_EXISTS = "job_exists"
    JOB_NOT_FOUND = "job_not_found"
    INVALID_TRANSITION = "invalid_transition"
    STATUS_MISMATCH = "status_mismatch"
    FORBIDDEN = "forbidden"
    VALIDATION_ERROR = "validation_error"
    # The service failed on this command every time it tried (a bug, or a value it cannot store): the
    # command is settled as rejected so the job's other commands and every other partition go on.
    INTERNAL_ERROR = "internal_error"


class EventType(StrEnum):
    CREATED = "job.created"
    STATUS_CHANGED = "job.status_changed"
    METADATA_UPDATED = "job.metadata_updated"
    MESSAGES_ATTACHED = "job.messages_attached"
    CALLBACK_RECORDED = "job.callback_recorded"
    DELETED = "job.deleted"
    ATTEMPT_FAILED = "job.attempt_failed"  # rule 15: a failed attempt that the job's retry policy retries
    COMMAND_REJECTED = "job.command_rejected"


class ListOrder(StrEnum):
    """What `GET /jobs` is ordered by (docs/contract.md §9); ties are broken by the job id either way."""

    CREATED_AT = "created_at"
    DURATION = "duration"  # completed_at - created_at: only finished jobs have one

"""What a create must say that needs no job state: checked once, by the parser, ingress and the validator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.vocabulary import INITIAL, JobType

if TYPE_CHECKING:
    from schemas.commands import CreateCommand


def content_problem(command: CreateCommand) -> str | None:
    """Why this create is rejected `validation_error` whatever the job's state, or None.

    The same rules are written into the create command's JSON Schema (except distinct custom_ids,
    which JSON Schema cannot say); tests/schemas/test_schema_agreement.py keeps the two in step.
    """
    if command.status not in INITIAL:
        return f"status: a job starts as created, pending or running, not {command.status.value}"
    is_batch = command.job_type is JobType.BATCH
    if command.items is not None and not is_batch:
        return "items: items are only allowed on a job_type=batch job"
    if is_batch and not (command.provider and command.provider_batch_id):
        return "provider: a batch job needs provider and provider_batch_id"
    if command.items is not None and len({item.custom_id for item in command.items}) != len(command.items):
        return "items: batch items must have distinct custom_id values"
    return None

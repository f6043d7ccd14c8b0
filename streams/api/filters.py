"""The job filters as query parameters, shared by `GET /jobs` and `GET /stats` (docs/contract.md §9)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, AwareDatetime

from schemas.bounds import MAX_TIMEOUT_S
from schemas.vocabulary import JobType, Status, StopReason
from storage.queries.filters import JobFilter

METADATA_PREFIX = "metadata."
MAX_METADATA_KEY = 256
MAX_METADATA_VALUE = 1024
MAX_METADATA_PAIRS = 16
MAX_DURATION_S = float(MAX_TIMEOUT_S)  # no job lasts longer than its longest timeout (ten years)

METADATA_HELP = (
    "Also `metadata.KEY=VALUE` (repeatable; all must match): jobs whose metadata has KEY equal to the "
    "string VALUE, e.g. `metadata.source_id=src-1`. KEY is a top-level key (dots included); at most "
    f"{MAX_METADATA_PAIRS} pairs, KEY 1-{MAX_METADATA_KEY} and VALUE up to {MAX_METADATA_VALUE} characters."
)
MIN_YEAR, MAX_YEAR = 1000, 8999


def _seconds_query(description: str) -> Any:
    return Query(ge=0, le=MAX_DURATION_S, allow_inf_nan=False, description=description)


def _bounded_year(moment: datetime) -> datetime:
    """Any offset must still leave a date Python and Postgres read back (as contract §3's date-times)."""
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_bounded_year)]


def job_filter(
    request: Request,
    status: Annotated[list[Status] | None, Query(description="Repeatable: any of these.")] = None,
    job_type: JobType | None = None,
    agent_id: Annotated[list[str] | None, Query(description="Repeatable: any of these.")] = None,
    stop_reason: StopReason | None = None,
    background: bool | None = None,
    batch_id: str | None = None,
    organization_id: Annotated[
        str | None, Query(description="Can only narrow: another organization's id matches nothing.")
    ] = None,
    duration_gt: Annotated[float | None, _seconds_query("Finished jobs that took longer (seconds).")] = None,
    duration_lt: Annotated[float | None, _seconds_query("Finished jobs that took less (seconds).")] = None,
) -> JobFilter:
    return JobFilter(
        statuses=[s.value for s in status or ()],
        job_type=job_type.value if job_type else None,
        agent_ids=agent_id or (),
        stop_reason=stop_reason.value if stop_reason else None,
        background=background,
        batch_id=batch_id,
        organization_id=organization_id,
        metadata=metadata_pairs(request),
        duration_gt=_seconds(duration_gt),
        duration_lt=_seconds(duration_lt),
    )


def stats_filter(
    filters: Annotated[JobFilter, Depends(job_filter)],
    created_after: Annotated[
        Moment | None, Query(description="RFC 3339 with an offset: jobs created at or after it.")
    ] = None,
    created_before: Annotated[
        Moment | None, Query(description="RFC 3339 with an offset: jobs created before it.")
    ] = None,
) -> JobFilter:
    """`/jobs`' filters and a time window over created_at."""
    return replace(filters, created_after=created_after, created_before=created_before)


def metadata_pairs(request: Request) -> list[tuple[str, str]]:
    """`metadata.KEY=VALUE` parameters, which no fixed signature can name; bad ones are a 422 that names
    the parameter, like FastAPI's own."""
    return checked_pairs(
        [
            (name[len(METADATA_PREFIX) :], value)
            for name, value in request.query_params.multi_items()
            if name.startswith(METADATA_PREFIX)
        ]
    )


def checked_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Metadata filter pairs within bounds and storable, else the 422 naming each bad one."""
    if len(pairs) > MAX_METADATA_PAIRS:  # said once, not once per pair: the answer stays small
        raise RequestValidationError(
            [_error("metadata", "too_many", f"at most {MAX_METADATA_PAIRS} metadata.KEY filters")]
        )
    errors = [error for key, value in pairs if (error := _problem(key, value)) is not None]
    if errors:
        raise RequestValidationError(errors)
    return pairs


def _problem(key: str, value: str) -> dict[str, Any] | None:
    shown = f"{METADATA_PREFIX}{key[:64]}"
    if not key:
        return _error(shown, "missing", "needs a key after `metadata.`")
    if len(key) > MAX_METADATA_KEY:
        return _error(shown, "string_too_long", f"the key has at most {MAX_METADATA_KEY} characters")
    if len(value) > MAX_METADATA_VALUE:
        return _error(shown, "string_too_long", f"the value has at most {MAX_METADATA_VALUE} characters")
    if "\x00" in key or "\x00" in value:
        return _error(
            shown, "string_pattern_mismatch", "U+0000 is not allowed (Postgres text cannot hold it)"
        )
    return None


def _error(field: str, kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "loc": ("query", field), "msg": message, "input": None}


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)

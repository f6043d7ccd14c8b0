"""The docs/contract.md §9 job filters as SQL, shared by the listing and the run statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement

from storage.tables import jobs

# A job's duration: from creation to its terminal status (null until then). The very expression
# `ix_jobs_org_duration` indexes, so the planner matches the two.
job_duration = jobs.c.completed_at - jobs.c.created_at


@dataclass(frozen=True)
class JobFilter:
    """The filters; empty sequences and None mean "any". Several values of one filter match any of
    them; different filters (and several `metadata` pairs) must all match."""

    statuses: Sequence[str] = ()
    job_type: str | None = None
    agent_ids: Sequence[str] = ()
    stop_reason: str | None = None
    background: bool | None = None
    batch_id: str | None = None
    organization_id: str | None = None
    metadata: Sequence[tuple[str, str]] = ()  # (key, value): the job's metadata has key = that string
    duration_gt: timedelta | None = None
    duration_lt: timedelta | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive

    def clauses(self) -> list[ColumnElement[bool]]:
        wanted: list[ColumnElement[bool]] = []
        if self.statuses:
            wanted.append(jobs.c.status.in_(list(self.statuses)))
        if self.job_type is not None:
            wanted.append(jobs.c.job_type == self.job_type)
        if self.agent_ids:
            wanted.append(jobs.c.agent_id.in_(list(self.agent_ids)))
        if self.stop_reason is not None:
            wanted.append(jobs.c.stop_reason == self.stop_reason)
        if self.background is not None:
            # `= true`, not `IS TRUE`: only an equality can use ix_jobs_org_background_created.
            wanted.append(jobs.c.background == self.background)
        if self.batch_id is not None:
            wanted.append(jobs.c.batch_id == self.batch_id)
        if self.organization_id is not None:
            # Only ever narrows: the caller's scope is applied separately, so another org's id
            # here selects nothing rather than widening the view.
            wanted.append(jobs.c.organization_id == self.organization_id)
        # One containment per pair (`metadata @> '{"k": "v"}'`): what ix_jobs_metadata (jsonb_path_ops)
        # answers; the same key twice with two values matches nothing, as AND says.
        wanted.extend(jobs.c.metadata.contains({key: value}) for key, value in self.metadata)
        if self.duration_gt is not None:
            wanted.append(job_duration > self.duration_gt)
        if self.duration_lt is not None:
            wanted.append(job_duration < self.duration_lt)
        if self.created_after is not None:
            wanted.append(jobs.c.created_at >= self.created_after)
        if self.created_before is not None:
            wanted.append(jobs.c.created_at < self.created_before)
        return wanted

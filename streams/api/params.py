"""Path and query parameters hold only what Postgres can compare with the column they are matched against.

The one place the API refuses unstorable parameters: any value with U+0000 (for every parameter, by
the app-wide `storable_parameters`), and ids and integers beyond their column (by the types below).
Each is a 422 naming the parameter, never a database error answered 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError

from schemas.bounds import MAX_ID_LENGTH, MAX_INT4

NUL = "\x00"
# What `storable_parameters` enforces, as the OpenAPI document states it for every string parameter.
NO_NUL_PATTERN = "^[^\\x00]*$"
# "{job_id}:{seq}" (rule 9): a job id, a colon and a Postgres integer.
MAX_EVENT_ID_LENGTH = MAX_ID_LENGTH + 1 + len(str(MAX_INT4))


async def storable_parameters(request: Request) -> None:
    """App-wide dependency: no U+0000 in any path or query parameter, declared or not.

    Postgres text and jsonb cannot hold U+0000, so compared with a column such a value fails inside
    the database. Checked here once, before any route runs, so a parameter added later (or read from
    the raw query string) is covered without a check of its own.
    """
    sources = (("path", request.path_params.items()), ("query", request.query_params.multi_items()))
    problems = [
        {
            "type": "unsupported_character",
            "loc": [where, name],
            "msg": "must not contain U+0000 (NUL): Postgres cannot store or compare it",
            "input": value,
        }
        for where, items in sources
        for name, value in items
        if NUL in name or NUL in str(value)
    ]
    if problems:
        raise RequestValidationError(problems)


JobIdPath = Annotated[str, Path(max_length=MAX_ID_LENGTH, description="The job's id.")]
BatchIdPath = Annotated[str, Path(max_length=MAX_ID_LENGTH, description="The batch job's id.")]
# Compared with `seq`, a Postgres integer.
SeqQuery = Annotated[int, Query(ge=0, le=MAX_INT4, description="Only events with a greater seq.")]

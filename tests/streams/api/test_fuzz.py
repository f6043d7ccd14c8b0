"""Schemathesis against the running API (real Postgres and Kafka): no 5xx, nothing its document does not say.

Bounded: EXAMPLES per operation, mode and path-parameter choice, and BUDGET_S in all (about 30 s on
two cores). Every failure is collected, not shrunk, and reported with its curl line. At 50 examples it
finds both of issue #14's 500s (U+0000 in a parameter, after_seq beyond int4) when their guards are off.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from streams.api.params import NO_NUL_PATTERN
from tests.streams.api.harness import RunningApi, job_when, post
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e

EXAMPLES = 50
BUDGET_S = 45.0
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


async def test_fuzzing_finds_no_5xx_and_nothing_the_document_does_not_say(
    api: RunningApi, pipeline: Pipeline
) -> None:
    known = {"job_id": unique("fuzz-job"), "batch_id": unique("fuzz-batch")}
    async with api.client("fuzz") as client:
        # A job with events and messages, and a batch with an item: fuzzed cursors, limits and
        # after_seq reach their queries instead of stopping at a 404.
        await post(client, type="create", job_id=known["job_id"], metadata={"ratio": 0.25})
        await post(client, type="attach_messages", job_id=known["job_id"], message_ids=["m-1", "m-2"])
        await post(
            client,
            type="create",
            job_id=known["batch_id"],
            job_type="batch",
            provider="anthropic",
            provider_batch_id="msgbatch_fuzz",
            items=[{"custom_id": "c-1", "job_id": known["job_id"]}],
        )
        await job_when(pipeline, client, known["job_id"], 2)
        await job_when(pipeline, client, known["batch_id"], 1)
    headers = api.tenants["fuzz"].headers
    failures = await asyncio.to_thread(fuzz, api.url, headers, known)
    assert not failures, "\n\n".join(failures)


def fuzz(url: str, headers: dict[str, str], known: dict[str, str]) -> list[str]:
    """Every operation in positive and negative mode, with generated path ids and with `known` ones."""
    schema = schemathesis.openapi.from_dict(without_nul_rule(httpx.get(f"{url}/openapi.json").json()))
    deadline = time.monotonic() + BUDGET_S
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        fixed = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in [None, fixed] if fixed else [None]:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
                try:
                    _run(strategy, url, headers, deadline, failures)
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request exists"
    return list(failures.values())


def without_nul_rule(document: dict[str, Any]) -> dict[str, Any]:
    """The document without its "no U+0000" parameter patterns, so that positive examples still carry
    U+0000 (the API's 500 before): what the API answers them must still be what the document says."""
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                _drop_pattern(parameter["schema"])
    return document


def _drop_pattern(schema: dict[str, Any]) -> None:
    if schema.get("pattern") == NO_NUL_PATTERN:
        del schema["pattern"]
    for member in [*schema.get("anyOf", ()), *([schema["items"]] if "items" in schema else [])]:
        _drop_pattern(member)


def _run(strategy: Any, url: str, headers: dict[str, str], deadline: float, failures: dict[str, str]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        if isinstance(case.body, dict):  # the shared worker must not post webhooks to made-up hosts
            case.body.pop("callback_url", None)
        try:
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=30)
        except (Exception, BaseExceptionGroup) as failure:
            # One report per operation and kind of failure: the first example found is enough.
            kinds = sorted(type(f).__name__ for f in getattr(failure, "exceptions", [failure]))
            failures.setdefault(f"{case.operation.label} {kinds}", str(failure))

    call()

"""What POST /commands (and the Python client) decide before anything is published (no services needed)."""

from __future__ import annotations

import pytest

from streams.api.ingress import Admitted, Refused, admit, read_body
from streams.client import InvalidCommand, JobstreamClient

ORG = "org-1"


def test_stamps_the_organization_and_a_command_id() -> None:
    decision = admit({"type": "create", "job_id": "j1", "future_field": 1}, ORG)
    assert isinstance(decision, Admitted)
    assert decision.job_id == "j1"
    assert decision.document["organization_id"] == ORG
    assert decision.document["command_id"] == decision.command_id and decision.command_id
    assert decision.document["future_field"] == 1, "unknown fields pass through (docs/contract.md: add-only)"


def test_keeps_the_callers_command_id() -> None:
    decision = admit({"type": "cancel", "job_id": "j1", "command_id": "mine", "organization_id": ORG}, ORG)
    assert isinstance(decision, Admitted) and decision.command_id == "mine"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "cancel", "job_id": "j1", "organization_id": "org-2"}, 403, "forbidden"),
        ({"type": "record_callback", "job_id": "j1"}, 422, "service_only"),
        ({"type": "retry", "job_id": "j1", "attempt": 1}, 422, "service_only"),
        (
            {"type": "heartbeat_timeout", "job_id": "j1", "deadline": "2026-01-01T00:00:00Z"},
            422,
            "service_only",
        ),
        ({"type": "heartbeat", "job_id": "j1", "command_id": "retry:j1:1"}, 422, "reserved_command_id"),
        ({"type": "create", "job_id": "j1", "retry_policy": {"max_attempts": 101}}, 422, "validation_error"),
        ({"type": "create"}, 422, "missing_field"),
        ({"type": "launch", "job_id": "j1"}, 422, "unknown_type"),
        ({"type": "transition", "job_id": "j1"}, 422, "missing_field"),
        ({"type": "transition", "job_id": "j1", "status": "sleeping"}, 422, "validation_error"),
        ({"type": "attach_messages", "job_id": "j1", "message_ids": "m1"}, 422, "wrong_type"),
        ({"type": "create", "job_id": "j1", "command_id": None}, 422, "wrong_type"),
        ({"type": "create", "job_id": ""}, 422, "wrong_type"),
        ({"type": ["record_callback"], "job_id": "j1"}, 422, "unknown_type"),
        ({"type": "create", "job_id": "j" * 257}, 422, "too_long"),
        ({"type": "create", "job_id": "j1", "agent_id": "a" * 10_000}, 422, "validation_error"),
        ({"type": "create", "job_id": "j1", "background": 1}, 422, "validation_error"),
        ({"type": "create", "job_id": "j1", "timeout_seconds": "10"}, 422, "validation_error"),
        ({"type": "create", "job_id": "j1", "metadata": {"x": float("nan")}}, 422, "not_json"),
        ({"type": "create", "job_id": "j1", "metadata": {"n": 2**70}}, 422, "not_json"),
    ],
)
def test_refusals(body: dict[str, object], status: int, code: str) -> None:
    decision = admit(body, ORG)
    assert isinstance(decision, Refused)
    assert (decision.status_code, decision.code) == (status, code)
    assert decision.message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": "completed"}, "status"),
        ({"items": [{"custom_id": "a", "job_id": "x"}]}, "items"),
        ({"job_type": "batch", "provider": "anthropic"}, "provider"),
        (
            {
                "job_type": "batch",
                "provider": "anthropic",
                "provider_batch_id": "b",
                "items": [{"custom_id": "a", "job_id": "x"}, {"custom_id": "a", "job_id": "y"}],
            },
            "items",
        ),
    ],
)
def test_a_create_the_worker_would_reject_whatever_the_state_is_422(
    fields: dict[str, object], field: str
) -> None:
    """202 means the worker will not reject the command for its content; these need no job state."""
    decision = admit({"type": "create", "job_id": "j1", **fields}, ORG)
    assert isinstance(decision, Refused)
    assert (decision.status_code, decision.code) == (422, "validation_error")
    assert decision.message.startswith(f"{field}:")


def test_a_body_too_deep_for_json_is_refused_not_crashed_on() -> None:
    nested: dict[str, object] = {}
    for _ in range(300):
        nested = {"a": nested}
    decision = admit({"type": "create", "job_id": "j1", "metadata": nested}, ORG)
    assert isinstance(decision, Refused) and decision.status_code == 422


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "create", "job_id": "j1", "status": "completed"}, "status"),
        ({"type": "create", "job_id": "j1", "background": 1}, "background"),
        ({"type": "create", "job_id": "j1", "metadata": {"n": float("inf")}}, "metadata.n"),
    ],
)
async def test_the_python_client_refuses_the_same_before_publishing(
    command: dict[str, object], field: str
) -> None:
    client = JobstreamClient(bootstrap_servers="127.0.0.1:1")  # never reached: nothing is sent
    with pytest.raises(InvalidCommand, match=field):
        await client.send(command)
    assert client._producer is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b'{"a": "\xff"}', "invalid_json"),  # not UTF-8
        (b'{"a": ' + b"9" * 5_000 + b"}", "invalid_json"),  # more digits than Python reads
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'["create"]', "not_an_object"),
    ],
)
def test_a_body_that_is_no_json_object_is_refused_with_its_reason(body: bytes, code: str) -> None:
    refused = read_body(body)
    assert isinstance(refused, Refused)
    assert (refused.status_code, refused.code) == (422, code) and refused.message


def test_a_body_keeps_what_only_admit_can_name() -> None:
    """NaN and integers beyond 64 bits still parse, so that admit refuses them saying where they are."""
    document = read_body(
        b'{"type": "create", "job_id": "j1", "metadata": {"n": NaN, "big": 18446744073709551616}}'
    )
    assert isinstance(document, dict) and document["metadata"]["big"] == 2**64
    refused = admit(document, ORG)
    assert isinstance(refused, Refused) and refused.code == "not_json"

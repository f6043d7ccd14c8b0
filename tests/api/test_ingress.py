"""What POST /commands decides before anything is published (no services needed)."""

from __future__ import annotations

import pytest

from streams.api.ingress import Admitted, Refused, admit

ORG = "org-1"


def test_stamps_the_organization_and_a_command_id() -> None:
    decision = admit({"type": "create", "job_id": "j1", "future_field": 1}, ORG)
    assert isinstance(decision, Admitted)
    assert decision.job_id == "j1"
    assert decision.document["organization_id"] == ORG
    assert decision.document["command_id"] == decision.command_id and decision.command_id
    assert decision.document["future_field"] == 1, "unknown fields pass through (spec: add-only contract)"


def test_keeps_the_callers_command_id() -> None:
    decision = admit({"type": "cancel", "job_id": "j1", "command_id": "mine", "organization_id": ORG}, ORG)
    assert isinstance(decision, Admitted) and decision.command_id == "mine"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "cancel", "job_id": "j1", "organization_id": "org-2"}, 403, "forbidden"),
        ({"type": "record_callback", "job_id": "j1"}, 422, "service_only"),
        ({"type": "create"}, 422, "missing_field"),
        ({"type": "launch", "job_id": "j1"}, 422, "unknown_type"),
        ({"type": "transition", "job_id": "j1"}, 422, "missing_field"),
        ({"type": "transition", "job_id": "j1", "status": "sleeping"}, 422, "validation_error"),
        ({"type": "update_metadata", "job_id": "j1", "metadata": [1]}, 422, "wrong_type"),
        ({"type": "create", "job_id": "j1", "command_id": None}, 422, "wrong_type"),
        ({"type": "create", "job_id": ""}, 422, "wrong_type"),
    ],
)
def test_refusals(body: dict[str, object], status: int, code: str) -> None:
    decision = admit(body, ORG)
    assert isinstance(decision, Refused)
    assert (decision.status_code, decision.code) == (status, code)
    assert decision.message

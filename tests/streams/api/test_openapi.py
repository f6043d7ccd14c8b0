"""The OpenAPI document says what the API enforces: 401s, the NUL rule, bounds, the command body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from streams.api.app import create_api
from streams.api.auth import TokenTable
from streams.api.ingress import Admitted, admit
from streams.api.params import NO_NUL_PATTERN
from streams.settings import Settings

DOCUMENT = create_api(Settings.from_env(), TokenTable({})).openapi()


def operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def parameter_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for member in [*schema.get("anyOf", ()), *([schema["items"]] if "items" in schema else [])]:
        yield from parameter_schemas(member)


def test_every_authenticated_operation_documents_401_and_the_bearer_scheme() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    secured = {label: op for label, op in operations() if op.get("security")}
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["HTTPBearer"].items()
    assert set(secured) >= {
        "GET /jobs",
        "GET /jobs/{job_id}/events",
        "POST /commands",
        "GET /batches/{batch_id}",
    }
    for label, operation in secured.items():
        unauthorized = operation["responses"].get("401")
        assert unauthorized is not None, label
        assert "WWW-Authenticate" in unauthorized["headers"], label
    assert "401" not in dict(operations())["GET /healthz"]["responses"]


def test_every_parameter_is_bounded_as_the_api_bounds_it() -> None:
    for label, operation in operations():
        for parameter in operation.get("parameters", ()):
            where = f"{label} {parameter['name']}"
            for schema in parameter_schemas(parameter["schema"]):
                if schema.get("type") == "string" and "enum" not in schema:
                    assert schema["pattern"] == NO_NUL_PATTERN, where
                    if parameter["in"] == "path":
                        assert schema["maxLength"] == 256, where
                if schema.get("type") == "integer":
                    assert "maximum" in schema, where


BODY = Draft202012Validator({"$ref": "#/components/schemas/Command", "components": DOCUMENT["components"]})


@pytest.mark.parametrize(
    "body",
    [
        {"type": "create", "job_id": "j1"},  # no command_id: the API generates one
        {"type": "create", "job_id": "j1", "command_id": "c1", "metadata": {"k": 1}},
        {"type": "transition", "job_id": "j1", "status": "running"},
        {"type": "cancel", "job_id": "j1", "stop_reason": "user_cancelled"},
        {"type": "update_metadata", "job_id": "j1", "metadata": {"k": None}},
        {"type": "attach_messages", "job_id": "j1", "message_ids": ["m1"]},
    ],
)
def test_the_command_body_admits_what_post_commands_admits(body: dict[str, Any]) -> None:
    assert isinstance(admit(body, "org-1"), Admitted)
    assert BODY.is_valid(body), list(BODY.iter_errors(body))


@pytest.mark.parametrize(
    "body",
    [
        {"type": "record_callback", "job_id": "j1", "attempts": 1},  # the service's own
        {"type": "transition", "job_id": "j1", "status": "sleeping"},
        {"type": "create", "job_id": "j" * 257},
        {"type": "create"},
        {"type": "launch", "job_id": "j1"},
    ],
)
def test_the_command_body_refuses_what_post_commands_refuses(body: dict[str, Any]) -> None:
    assert not isinstance(admit(body, "org-1"), Admitted)
    assert not BODY.is_valid(body)


def test_the_command_body_is_the_command_schema_of_schemas() -> None:
    body = DOCUMENT["paths"]["/commands"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Command"}
    mapping = DOCUMENT["components"]["schemas"]["Command"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "create",
        "transition",
        "cancel",
        "update_metadata",
        "attach_messages",
        "delete",
        "heartbeat",
    }

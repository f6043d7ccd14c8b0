"""JSON Schemas of the wire contract, generated from the models so they cannot drift."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import DEFAULT_REF_TEMPLATE

from schemas.commands import COMMAND_ADAPTER
from schemas.events import Event


def command_schema(ref_template: str = DEFAULT_REF_TEMPLATE) -> dict[str, Any]:
    """`ref_template` places the definitions elsewhere (the OpenAPI document's components)."""
    schema = COMMAND_ADAPTER.json_schema(ref_template=ref_template)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "jobstream command"
    return schema


def event_schema() -> dict[str, Any]:
    schema = Event.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema

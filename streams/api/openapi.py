"""The OpenAPI document: what FastAPI derives from the routes, plus the rules it cannot see there."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from schemas.json_schema import command_schema
from streams.api.ingress import SERVICE_ONLY_TYPES
from streams.api.params import NO_NUL_PATTERN

_COMPONENTS = "#/components/schemas/"
# POST /commands declares its body as this component (added by `document`), see routes/commands.py.
COMMAND_REF = {"$ref": f"{_COMPONENTS}Command"}

_UNAUTHORIZED = {
    "description": "No bearer token, or one that is not in JOBSTREAM_API_TOKENS.",
    "headers": {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    "content": {"application/json": {"schema": {"$ref": f"{_COMPONENTS}Problem"}}},
}


def install(app: FastAPI) -> None:
    """Serve `document(app)` at /openapi.json (built once, on the first request, like FastAPI's)."""
    derive = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(derive())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(derived: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document amended in three ways, each from the one place its rule is enforced:

    - 401 on every operation behind the bearer scheme (streams/api/auth.py);
    - no U+0000 in any string parameter (streams/api/params.py refuses it for all of them);
    - POST /commands' body is the command schema of schemas/, as the HTTP ingress admits it.
    """
    amended = copy.deepcopy(derived)
    for operation in _operations(amended):
        if operation.get("security"):
            operation["responses"].setdefault("401", _UNAUTHORIZED)
        for parameter in operation.get("parameters", ()):
            for schema in _string_schemas(parameter["schema"]):
                schema.setdefault("pattern", NO_NUL_PATTERN)
    components: dict[str, Any] = amended.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in http_command_schemas().items():
        if components.setdefault(name, schema) != schema:
            raise RuntimeError(f"two different OpenAPI components are named {name!r}")
    return amended


def http_command_schemas() -> dict[str, dict[str, Any]]:
    """The command schema as components, `Command` first: what `POST /commands` admits.

    The HTTP ingress differs from the topic in two ways only (streams/api/ingress.py): it generates a
    missing `command_id`, and it refuses the service's own command types.
    """
    schema = command_schema(ref_template=_COMPONENTS + "{model}")
    definitions: dict[str, dict[str, Any]] = schema.pop("$defs")
    mapping = schema["discriminator"]["mapping"]
    refused = {mapping.pop(kind).removeprefix(_COMPONENTS) for kind in SERVICE_ONLY_TYPES if kind in mapping}
    schema["oneOf"] = [v for v in schema["oneOf"] if v["$ref"].removeprefix(_COMPONENTS) not in refused]
    variants = {v["$ref"].removeprefix(_COMPONENTS) for v in schema["oneOf"]}
    for name in variants:
        definitions[name]["required"].remove("command_id")
        definitions[name]["properties"]["command_id"]["description"] += " Generated when absent."
    command = {
        "title": "Command",
        "description": "A command (docs/contract.md §3); `organization_id`, if given, must be yours.",
        "oneOf": schema["oneOf"],
        "discriminator": schema["discriminator"],
    }
    return {"Command": command} | {k: v for k, v in definitions.items() if k not in refused}


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path_item in document.get("paths", {}).values():
        yield from path_item.values()


def _string_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The free-text string schemas in a parameter's schema (inside anyOf and array items too)."""
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        yield schema
    for member in schema.get("anyOf", ()):
        yield from _string_schemas(member)
    if "items" in schema:
        yield from _string_schemas(schema["items"])

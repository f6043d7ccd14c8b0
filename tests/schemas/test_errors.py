"""One wording for pydantic's validation errors: command rejections, dead letters and the CLI."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from schemas.errors import describe_errors


class Item(BaseModel):
    custom_id: str


class Poll(BaseModel):
    batch_job_id: str
    items: list[Item]


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Poll.model_validate(data)
    return caught.value


def test_each_error_is_its_field_path_and_message() -> None:
    message = describe_errors(_error({"batch_job_id": 1, "items": [{}]}), "poll result")
    assert message == "batch_job_id: Input should be a valid string; items.0.custom_id: Field required"


def test_an_error_about_the_whole_value_names_it() -> None:
    assert describe_errors(_error([1]), "poll result").startswith("poll result: ")


def test_leading_parts_that_name_no_field_are_skipped() -> None:
    """FastAPI's 422 detail (as JSON) puts body/query first, as a tagged union puts its tag first."""
    detail = [
        {"loc": ["query", "limit"], "msg": "Input should be a valid integer"},
        {"loc": ["body"], "msg": "Field required"},
    ]
    assert describe_errors(detail, "request", skip=1) == (
        "limit: Input should be a valid integer; request: Field required"
    )


def test_at_most_limit_errors_are_described() -> None:
    detail = [{"loc": ["body", f"f{n}"], "msg": "bad"} for n in range(8)]
    assert describe_errors(detail, "request", skip=1).count("bad") == 5
    assert describe_errors(detail, "request", skip=1, limit=None).count("bad") == 8

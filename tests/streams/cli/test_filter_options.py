"""The filter options `jobs list` and `stats` share, as the API's query parameters (no API needed)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from schemas.vocabulary import JobType, Status
from streams.cli.filters import FILTERS, filter_params
from streams.cli.main import app

NONE = dict.fromkeys(FILTERS)


def test_metadata_pairs_become_one_parameter_per_key_in_order() -> None:
    params = filter_params(**{**NONE, "metadata": ["source_id=src=1", "team=a", "team=b", "empty="]})
    assert params["metadata.source_id"] == ["src=1"]  # split at the first `=`: values may hold one
    assert params["metadata.team"] == ["a", "b"] and params["metadata.empty"] == [""]


@pytest.mark.parametrize("pair", ["no-equals", "=value"])
def test_a_pair_without_a_key_is_refused(pair: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not KEY=VALUE"):
        filter_params(**{**NONE, "metadata": [pair]})


def test_the_other_filters_map_to_their_parameters() -> None:
    params = filter_params(
        **{
            **NONE,
            "status": [Status.RUNNING],
            "job_type": JobType.RUN,
            "duration_gt": 1.5,
            "background": False,
        }
    )
    assert params["status"] == ["running"] and params["job_type"] == "run"
    assert params["duration_gt"] == 1.5 and params["background"] is False


@pytest.mark.parametrize("command", [["jobs", "list"], ["stats"]])
def test_both_commands_offer_every_filter(command: list[str]) -> None:
    shown = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
    for option in ("--status", "--agent-id", "--metadata", "--duration-gt", "--duration-lt", "--org"):
        assert option in shown, (command, option)

"""Token configuration and lookup (no services needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.api.auth import TokenTable
from streams.settings import ConfigError
from streams.settings.api import parse_pairs, read_api_tokens


def test_env_and_file_are_merged(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# ops tokens\n\nfile-token:org-file\n  spaced : org-spaced  \n")
    env = {"JOBSTREAM_API_TOKENS": "t1:org-1, t2:org-2", "JOBSTREAM_API_TOKENS_FILE": str(file)}
    table = TokenTable(read_api_tokens(env))
    assert len(table) == 4
    assert table.organization_of("t1") == "org-1"
    assert table.organization_of("t2") == "org-2"
    assert table.organization_of("file-token") == "org-file"
    assert table.organization_of("spaced") == "org-spaced"


def test_unknown_and_prefix_tokens_match_nothing() -> None:
    table = TokenTable(read_api_tokens({"JOBSTREAM_API_TOKENS": "secret-token:org-1"}))
    for attempt in ("", "secret", "secret-token-", "SECRET-TOKEN", "org-1"):
        assert table.organization_of(attempt) is None


def test_organization_ids_may_contain_colons() -> None:
    assert parse_pairs(["tok:tenant:eu"], "test") == [("tok", "tenant:eu")]


def test_no_configuration_means_no_tokens() -> None:
    assert len(TokenTable(read_api_tokens({}))) == 0


@pytest.mark.parametrize("entry", ["just-a-token", ":org", "token:", "  :  "])
def test_malformed_entries_fail_without_echoing_the_token(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"JOBSTREAM_API_TOKENS must be .*, got entry 2,") as caught:
        read_api_tokens({"JOBSTREAM_API_TOKENS": f"ok:org,{entry}"})
    assert "just-a-token" not in str(caught.value)

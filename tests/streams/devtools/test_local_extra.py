"""Without the `local` extra (as in the image), `jobstream stack`/`bench` say in one line what to install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from streams.cli.local_extra import INSTALL_HINT, LOCAL_MODULES

ROOT = Path(__file__).resolve().parents[3]
# Runs the CLI with the extra's modules made unimportable (None in sys.modules: ImportError, no spec).
WITHOUT_EXTRA = """
import sys
for name in {modules!r}:
    sys.modules[name] = None
sys.argv = ["jobstream", *{args!r}]
from streams.cli.main import main
main()
"""


def without_extra(*args: str) -> subprocess.CompletedProcess[str]:
    script = WITHOUT_EXTRA.format(modules=LOCAL_MODULES, args=args)
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_extra_lists_the_modules_the_cli_checks() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in project["optional-dependencies"]["local"]}
    assert {n.replace("-", "_").lower() for n in names} == set(LOCAL_MODULES)
    runtime = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in project["dependencies"]}
    assert not names & runtime, "a local-only dependency is a runtime dependency again"


@pytest.mark.parametrize("args", [["--help"], ["worker", "--help"], ["stack", "--help"], ["bench", "--help"]])
def test_the_runtime_commands_and_help_need_no_extra(args: list[str]) -> None:
    result = without_extra(*args)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args", [["stack", "up"], ["stack", "status"], ["stack", "env"], ["bench"]])
def test_a_devtools_command_says_what_to_install(args: list[str]) -> None:
    result = without_extra(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and INSTALL_HINT in lines[0], result.stderr

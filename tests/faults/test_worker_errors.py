"""The scenarios' ERROR-line check: which lines count, and that an unlisted class fails the scenario."""

from __future__ import annotations

import re
from pathlib import Path

from tests.faults import worker_errors

MODE_ERROR = "[2026-12-02 05:30:00,123] [4242] [ERROR]: [^--Consumer]: Drain messages raised: boom"
LINES = [
    MODE_ERROR,
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "[2026-12-02 05:30:00,124] [4242] [WARNING]: [^--Fetcher]: slow",
    '{"event": "batch_failed", "level": "error", "timestamp": "2026-12-02T05:30:00Z"}',
    '{"event": "batch_retry", "level": "warning"}',
    "2026-12-02 05:30:01,000 CRITICAL aiokafka.conn Unexpected exception",
]


def test_only_error_and_critical_lines_are_collected() -> None:
    assert worker_errors.error_messages(LINES) == [
        "[^--Consumer]: Drain messages raised: boom",
        "batch_failed",
        "aiokafka.conn Unexpected exception",
    ]


def test_a_line_of_no_listed_class_is_a_violation() -> None:
    classes = [re.compile(r"Drain messages raised"), re.compile(r"^batch_failed$")]
    found = worker_errors.classify(worker_errors.error_messages(LINES), classes)
    assert found.by_class == {"Drain messages raised": 1, "^batch_failed$": 1}
    assert found.unlisted == ["aiokafka.conn Unexpected exception"]
    assert len(found.violations()) == 1 and "aiokafka.conn" in found.violations()[0]


def test_the_documented_classes_parse_and_each_has_its_explanation() -> None:
    text = worker_errors.DOC.read_text()
    section = text[text.index(worker_errors.SECTION) :]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    classes = worker_errors.documented()
    assert classes and len(classes) == len(rows)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 3 and all(cells), f"row without its source or explanation: {row}"


def test_collect_reads_only_the_scenario_namespace(tmp_path: Path) -> None:
    (tmp_path / "tabc-w0.log").write_text(MODE_ERROR + "\n")
    (tmp_path / "tother-w0.log").write_text(MODE_ERROR + "\n" + MODE_ERROR + "\n")
    found = worker_errors.collect(tmp_path, "tabc")
    assert sum(found.by_class.values()) + len(found.unlisted) == 1


def test_an_escaped_bar_in_the_table_is_an_alternative() -> None:
    classes = worker_errors.documented()
    lines = [
        "Failed fetch messages from 3: NodeNotReadyError: x",
        "Failed fetch messages from 2: KafkaConnectionError",
    ]
    assert not worker_errors.classify(lines, classes).unlisted

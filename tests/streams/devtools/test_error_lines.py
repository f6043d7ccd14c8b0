"""The ERROR-line check of the fault scenarios and the soak: which lines count, that an unlisted class
fails, and that each judge reads the documented tables it should."""

from __future__ import annotations

import re
from pathlib import Path

from streams.devtools import error_lines

MODE_ERROR = "[2026-12-02 05:30:00,123] [4242] [ERROR]: [^--Consumer]: Drain messages raised: boom"
LINES = [
    MODE_ERROR,
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "[2026-12-02 05:30:00,124] [4242] [WARNING]: [^--Fetcher]: slow",
    '{"event": "batch_failed", "level": "error", "timestamp": "2026-12-02T05:30:00Z"}',
    '{"event": "batch_retry", "level": "warning"}',
    "2026-12-02 05:30:01,000 CRITICAL aiokafka.conn Unexpected exception",
    "ERROR:    Exception in ASGI application",
]
STALL = (
    "[2026-12-02 06:03:25,001] [77] [ERROR] [^---ReadCommittedConsumerThread]: Stream stopped processing,"
    " or is slow for TP(topic='s1.js.batches.results', partition=3) (last inbound 5.2 minutes ago)."
)


def test_only_error_and_critical_lines_are_collected() -> None:
    assert error_lines.error_messages(LINES) == [
        "[^--Consumer]: Drain messages raised: boom",
        "batch_failed",
        "aiokafka.conn Unexpected exception",
        "Exception in ASGI application",
    ]


def test_a_line_of_no_listed_class_is_a_violation() -> None:
    classes = [re.compile(r"Drain messages raised"), re.compile(r"^batch_failed$")]
    found = error_lines.classify(error_lines.error_messages(LINES), classes)
    assert found.by_class == {"Drain messages raised": 1, "^batch_failed$": 1}
    assert found.unlisted == ["aiokafka.conn Unexpected exception", "Exception in ASGI application"]
    assert len(found.violations()) == 2 and "aiokafka.conn" in found.violations()[0]


def test_the_documented_classes_parse_and_each_has_its_explanation() -> None:
    text = error_lines.DOC.read_text()
    for section, sections in ((error_lines.WORKER_ERRORS, error_lines.FAULT_SECTIONS),
                              (error_lines.STALL_CHECKS, (error_lines.STALL_CHECKS,))):  # fmt: skip
        start = text.index(section) + len(section)
        body = text[start : text.index("\n#", start)]
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        assert rows and len(error_lines.documented(sections)) == len(rows)
        for row in rows:
            cells = [cell.strip() for cell in row.strip("|").split(" | ")]
            assert len(cells) == 3 and all(cells), f"row without its source or explanation: {row}"


def test_faust_stall_checks_fail_a_fault_scenario_but_not_the_soak() -> None:
    [message] = error_lines.error_messages([STALL])
    assert error_lines.explained(message, error_lines.documented(error_lines.FAULT_SECTIONS)) is None
    assert error_lines.explained(message, error_lines.documented(error_lines.SOAK_SECTIONS)) is not None


def test_collect_reads_only_the_scenario_namespace(tmp_path: Path) -> None:
    (tmp_path / "tabc-w0.log").write_text(MODE_ERROR + "\n")
    (tmp_path / "tother-w0.log").write_text(MODE_ERROR + "\n" + MODE_ERROR + "\n")
    found = error_lines.collect(tmp_path, "tabc")
    assert sum(found.by_class.values()) + len(found.unlisted) == 1


def test_an_escaped_bar_in_the_table_is_an_alternative() -> None:
    classes = error_lines.documented()
    lines = [
        "Failed fetch messages from 3: NodeNotReadyError: x",
        "Failed fetch messages from 2: KafkaConnectionError",
    ]
    assert not error_lines.classify(lines, classes).unlisted

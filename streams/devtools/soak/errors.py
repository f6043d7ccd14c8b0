"""ERROR lines of a process log, counted by class: structlog's JSON lines by their event, stdlib logging's
(faust, aiokafka) by logger and message with numbers, ids and quoted names blanked, so one fault
repeating is one class."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import orjson

_STDLIB = re.compile(r"\b(ERROR|CRITICAL)\b\s+(\S+)\s+(.*)")
_FAUST = re.compile(r"\[(ERROR|CRITICAL)\]\s+(.*)")
_QUOTED = re.compile(r"'[^']*'")  # topic names and the like: a run's namespace is in them
_VARIABLE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+")
MESSAGE_CHARS = 80


def error_class(line: str) -> str | None:
    """The class of an ERROR/CRITICAL line (`logger: message shape`), or None for any other line."""
    text = line.strip()
    if text.startswith("{"):
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if isinstance(record, dict) and str(record.get("level", "")).lower() in ("error", "critical"):
            return f"structlog: {record.get('event')}"
        return None
    match = _STDLIB.search(text)
    if match is not None:
        return f"{match.group(2)}: {_shape(match.group(3))}"
    match = _FAUST.search(text)
    if match is not None:
        return f"faust: {_shape(match.group(2))}"
    return None


def _shape(message: str) -> str:
    return _VARIABLE.sub("N", _QUOTED.sub("Q", message))[:MESSAGE_CHARS]


class ErrorCounter:
    """Reads a log file on from where it last stopped, counting ERROR lines by class."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.counts: Counter[str] = Counter()
        self.first_lines: dict[str, str] = {}  # one example per class, for the report

    def read(self) -> int:
        """New ERROR lines since the last read."""
        if not self.path.exists():
            return 0
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next read
        self.offset += len(complete)
        found = 0
        for raw in complete.decode(errors="replace").splitlines():
            kind = error_class(raw)
            if kind is not None:
                found += 1
                self.counts[kind] += 1
                self.first_lines.setdefault(kind, raw[:500])
        return found

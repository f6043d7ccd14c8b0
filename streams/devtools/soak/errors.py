"""ERROR lines of a process log, counted by shape: the message (`error_lines.error_message`) with numbers,
ids and quoted names blanked, so one fault repeating is one class; one example line is kept per class,
which the verdict matches against the documented classes."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from streams.devtools.error_lines import error_message

_QUOTED = re.compile(r"'[^']*'")  # topic names and the like: a run's namespace is in them
_VARIABLE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+")
MESSAGE_CHARS = 80


def error_class(line: str) -> str | None:
    """The shape of an ERROR/CRITICAL line's message, or None for any other line."""
    message = error_message(line.strip())
    if message is None:
        return None
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

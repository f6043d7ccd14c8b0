"""ERROR (and CRITICAL) lines of the service's logs, sorted into the classes docs/reliability.md explains.

One table of classes for every judge of logs: the fault suite fails a scenario on a line of no class in
the "Error lines the workers log" section; the soak also accepts Faust's stall checks, which the docs
explain for a starved machine but which a short fault scenario must never see (so they are a section of
their own). Each table row's first cell is the regular expression a line's message is matched with.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
WORKER_ERRORS = "## Error lines the workers log"
STALL_CHECKS = "### Faust's stall checks on a starved machine"
FAULT_SECTIONS = (WORKER_ERRORS,)
SOAK_SECTIONS = (WORKER_ERRORS, STALL_CHECKS)
# Faust's (mode's) format, the stdlib fallback (`streams/logs.py`), uvicorn's (the soak's fake provider)
# and structlog's JSON lines.
_MODE = re.compile(r"^\[[^\]]+\] \[\d+\] \[(?:ERROR|CRITICAL)\]:? ?(?P<message>.*)$")
_STDLIB = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?:ERROR|CRITICAL) (?P<message>.*)$")
_UVICORN = re.compile(r"^(?:ERROR|CRITICAL):\s+(?P<message>.*)$")
_ROW = re.compile(r"^\| `([^`]+)` \|", flags=re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ErrorLines:
    by_class: Counter[str]  # documented pattern -> lines of it
    unlisted: list[str]

    def violations(self) -> list[str]:
        return [f"worker logged an ERROR of no class listed in docs/reliability.md: {line}"
                for line in self.unlisted]  # fmt: skip


def documented(sections: Sequence[str] = FAULT_SECTIONS, doc: Path = DOC) -> list[re.Pattern[str]]:
    """The first cell of each table row of these sections: a regular expression in backticks (`\\|`, as
    Markdown tables need it, stands for `|`). A section ends at the next heading."""
    text = doc.read_text()
    patterns = []
    for heading in sections:
        start = text.index(heading) + len(heading)
        end = text.find("\n#", start)
        body = text[start : end if end != -1 else None]
        patterns += [re.compile(row.replace("\\|", "|")) for row in _ROW.findall(body)]
    return patterns


def error_message(line: str) -> str | None:
    """The message of an ERROR or CRITICAL line, or None for any other line (a traceback's own lines
    belong to the line before)."""
    match = _MODE.match(line) or _STDLIB.match(line) or _UVICORN.match(line)
    if match:
        return match["message"].strip()
    if line.startswith("{"):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None  # not one of structlog's lines
        if isinstance(entry, dict) and str(entry.get("level", "")).lower() in ("error", "critical"):
            return str(entry.get("event", line))
    return None


def error_messages(lines: Iterable[str]) -> list[str]:
    return [message for message in map(error_message, lines) if message is not None]


def explained(message: str, classes: Sequence[re.Pattern[str]]) -> str | None:
    """The documented pattern this message is of, or None."""
    return next((c.pattern for c in classes if c.search(message)), None)


def classify(messages: Iterable[str], classes: Sequence[re.Pattern[str]]) -> ErrorLines:
    by_class: Counter[str] = Counter()
    unlisted = []
    for message in messages:
        pattern = explained(message, classes)
        if pattern is None:
            unlisted.append(message[:300])
        else:
            by_class[pattern] += 1
    return ErrorLines(by_class, unlisted)


def collect(logs: Path, prefix: str) -> ErrorLines:
    """The error lines of every worker log `<logs>/<prefix>-*.log` (one fault scenario's namespace)."""
    messages = []
    for path in sorted(logs.glob(f"{prefix}-*.log")):
        messages += error_messages(path.read_text(errors="replace").splitlines())
    return classify(messages, documented(FAULT_SECTIONS))

"""Every ERROR (or CRITICAL) line the workers of a scenario logged, sorted into the classes
docs/reliability.md lists with why each is fixed or harmless; a line of no listed class is a violation."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
SECTION = "## Error lines the workers log"
# Faust's (mode's) format, the stdlib fallback (`streams/logs.py`), and structlog's JSON lines.
_MODE = re.compile(r"^\[[^\]]+\] \[\d+\] \[(?:ERROR|CRITICAL)\]:? ?(?P<message>.*)$")
_STDLIB = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?:ERROR|CRITICAL) (?P<message>.*)$")


@dataclass(frozen=True, slots=True)
class ErrorLines:
    by_class: Counter[str]  # documented pattern -> lines of it
    unlisted: list[str]

    def violations(self) -> list[str]:
        return [f"worker logged an ERROR of no class listed in docs/reliability.md: {line}"
                for line in self.unlisted]  # fmt: skip


def documented(doc: Path = DOC) -> list[re.Pattern[str]]:
    """The first cell of each row of the section's table: a regular expression in backticks (`\\|`, as
    Markdown tables need it, stands for `|`)."""
    text = doc.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    rows = re.findall(r"^\| `([^`]+)` \|", text[start : end if end != -1 else None], flags=re.MULTILINE)
    return [re.compile(row.replace("\\|", "|")) for row in rows]


def error_messages(lines: Iterable[str]) -> list[str]:
    """The message of every ERROR or CRITICAL line (a traceback's own lines are part of the one before)."""
    found = []
    for line in lines:
        match = _MODE.match(line) or _STDLIB.match(line)
        if match:
            found.append(match["message"].strip())
        elif line.startswith("{"):
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # not one of structlog's lines
            if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                found.append(str(entry.get("event", line)))
    return found


def classify(messages: Iterable[str], classes: list[re.Pattern[str]]) -> ErrorLines:
    by_class: Counter[str] = Counter()
    unlisted = []
    for message in messages:
        match = next((c.pattern for c in classes if c.search(message)), None)
        if match is None:
            unlisted.append(message[:300])
        else:
            by_class[match] += 1
    return ErrorLines(by_class, unlisted)


def collect(logs: Path, prefix: str) -> ErrorLines:
    """The error lines of every worker log `<logs>/<prefix>-*.log` (one scenario's namespace)."""
    messages = []
    for path in sorted(logs.glob(f"{prefix}-*.log")):
        messages += error_messages(path.read_text(errors="replace").splitlines())
    return classify(messages, documented())

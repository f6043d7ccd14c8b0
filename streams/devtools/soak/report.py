"""The soak's files: its time series (CSV), everything as one JSON, and the table docs/reliability.md
carries."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import orjson

from streams.devtools.soak.config import SoakConfig
from streams.devtools.soak.errors import error_class
from streams.devtools.soak.runner import SoakResult
from streams.devtools.soak.verdict import Bucket, Sample, judge


def as_dict(result: SoakResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "config": asdict(result.config),
        "totals": result.totals,
        "errors": result.errors,
        "error_examples": result.error_examples,
        "verdict": result.verdict.as_dict(),
        "samples": [asdict(s) for s in result.samples],
        "buckets": [asdict(b) for b in result.buckets],
    }


def rejudged(path: Path) -> SoakResult:
    """A finished run read back from its result.json and judged again by the current rules (the
    documented ERROR classes, the bounds): the series are what was measured, only the verdict is new."""
    data = orjson.loads(path.read_bytes())
    config = SoakConfig(**data["config"])
    samples = [Sample(**row) for row in data["samples"]]
    buckets = [Bucket(**row) for row in data["buckets"]]
    problems = data["verdict"]["problems"]
    errors: Counter[str] = Counter()  # classed again from each class's example line, by today's classifier
    examples: dict[str, str] = {}
    for kind, count in data["errors"].items():
        line = data["error_examples"].get(kind, "")
        now = error_class(line) or kind
        errors[now] += count
        examples.setdefault(now, line)
    verdict = judge(samples, buckets, errors, examples, config, problems)
    return SoakResult(
        data["run_id"], config, path.parent, samples, buckets, dict(errors), examples,
        data["totals"], verdict,
    )  # fmt: skip


def write(result: SoakResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "samples.csv", folder / "latency.csv", folder / "result.json"]
    _csv(written[0], Sample, [asdict(s) for s in result.samples])
    _csv(written[1], Bucket, [asdict(b) for b in result.buckets])
    written[2].write_bytes(
        orjson.dumps(as_dict(result), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    return written


def _csv(path: Path, kind: type, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(kind)])
        writer.writeheader()
        writer.writerows(rows)


def table(result: SoakResult) -> str:
    """Markdown: the run, each check with its figures, the errors, the end check."""
    c, t, v = result.config, result.totals, result.verdict
    rows = [
        f"run `{result.run_id}`: {c.duration_s:.0f} s at {c.rate:,.0f} commands/s"
        f" ({t['commands']:,} commands, {t['jobs']:,} jobs: {t['kinds']}; batches {t['batches']});"
        f" warm-up {c.warmup_s:.0f} s, windows of {c.window_s:.0f} s, p99 per {c.latency_bucket_s:.0f} s",
        "",
        "| check | first window after warm-up | last window | bound | result |",
        "|---|---|---|---|---|",
        *(
            f"| {check.name} | {check.first} | {check.last} | {check.bound} | {_word(check.passed)} |"
            for check in v.checks
        ),
        f"| ERROR lines not explained | | {sum(v.unexplained_errors.values())} | 0 |"
        f" {_word(not v.unexplained_errors)} |",
        f"| end check (Postgres, callbacks, batches) | | {len(v.problems)} problems | 0 |"
        f" {_word(not v.problems)} |",
        "",
        f"verdict: {'PASS' if v.passed else 'FAIL'}",
    ]
    rows += [f"- unexplained ERROR `{kind}` x{n}" for kind, n in v.unexplained_errors.items()]
    rows += [f"- problem: {p}" for p in v.problems]
    return "\n".join(rows)


def _word(passed: bool) -> str:
    return "pass" if passed else "FAIL"

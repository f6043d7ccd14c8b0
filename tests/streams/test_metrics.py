"""The metrics module: each series under one name, and each timer's counter the one documented for it."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from prometheus_client import REGISTRY

import streams.metrics
from streams.commands.expiry import SCANS


def test_no_metric_name_is_assigned_twice() -> None:
    """A second assignment silently replaced the first: the retry timer then counted its re-pends on the
    batch retries' labelled counter, which raised after every publication."""
    tree = ast.parse(Path(streams.metrics.__file__).read_text())
    names = Counter(
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    )
    assert [name for name, count in names.items() if count > 1] == []


def test_each_timer_counts_what_it_publishes_on_its_own_series() -> None:
    series = {
        "expiry": "jobstream_expiries_published_total",
        "retry": "jobstream_retries_published_total",
        "heartbeat": "jobstream_heartbeat_timeouts_published_total",
    }
    for scan in SCANS:
        before = REGISTRY.get_sample_value(series[scan.name]) or 0.0
        scan.counter.inc(2)  # as `_publish_due` does: no labels
        assert REGISTRY.get_sample_value(series[scan.name]) == before + 2, scan.name


def test_every_series_the_dashboard_charts_is_one_the_service_exports() -> None:
    """A renamed metric would leave its panel empty without an error anywhere."""
    # Each module registers its series on import.
    import streams.api.metrics
    import streams.callbacks.metrics

    dashboard = Path(__file__).resolve().parents[2] / "monitoring" / "grafana-dashboard.json"
    charted = set(re.findall(r"\bjobstream_[a-z_]+", dashboard.read_text()))
    registries = (REGISTRY, streams.api.metrics.REGISTRY)  # the worker's and the API's own
    families = {metric.name for registry in registries for metric in registry.collect()}  # no `_total`
    exported = {
        f"{name}{suffix}" for name in families for suffix in ("", "_total", "_bucket", "_sum", "_count")
    }
    assert charted, "the dashboard charts jobstream's series"
    assert charted - exported == set()

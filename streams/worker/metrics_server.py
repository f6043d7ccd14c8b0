"""The worker's own Prometheus endpoint (JOBSTREAM_METRICS_PORT): each worker process is scraped on its
port, since its counters live in it; and the lag of the partitions it holds, refreshed on a timer."""

from __future__ import annotations

import faust
import structlog
from prometheus_client import REGISTRY, start_http_server

from streams import metrics
from streams.settings import Settings

log = structlog.get_logger(__name__)
LAG_INTERVAL_S = 5.0


class MetricsPortError(RuntimeError):
    """The configured port cannot be bound; the message says what to do."""


def serve_metrics(settings: Settings) -> str | None:
    """Start serving this process's registry in a daemon thread; its URL, or None when not configured."""
    if settings.metrics_port is None:
        return None
    try:
        server, _thread = start_http_server(settings.metrics_port, settings.metrics_host, REGISTRY)
    except OSError as exc:
        raise MetricsPortError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} ({exc}); set "
            "JOBSTREAM_METRICS_PORT to a free port, 0 for any, or unset it to serve none"
        ) from exc
    url = f"http://{settings.metrics_host}:{server.server_port}/metrics"
    log.info("metrics.serving", url=url)
    return url


def register_lag(app: faust.App, settings: Settings) -> None:
    """`jobstream_consumer_lag` per commands partition this worker holds; partitions it lost disappear."""
    shown: set[str] = set()

    @app.timer(LAG_INTERVAL_S, name="jobstream.consumer_lag")
    async def refresh_lag() -> None:
        consumer = app.consumer
        held: set[str] = set()
        try:
            for tp in consumer.assignment():
                if tp.topic != settings.topics.commands:
                    continue
                position = await consumer.position(tp)
                if position is None:
                    continue
                partition = str(tp.partition)
                metrics.CONSUMER_LAG.labels(partition).set(max(0, consumer.highwater(tp) - position))
                held.add(partition)
        except Exception as exc:  # a timer that raises stops the worker; a rebalance can interrupt this
            log.debug("metrics.lag_unavailable", error=repr(exc))
            return
        for partition in shown - held:
            metrics.CONSUMER_LAG.remove(partition)
        shown.clear()
        shown.update(held)

"""`jobstream poller`: poll providers for running batches and publish to `batches.results`."""

from __future__ import annotations

import asyncio
import functools
import signal
from typing import Annotated

import structlog
import typer

from schemas.batch_results import BatchPollResult
from storage.database import create_engine
from storage.queries.batch_cancels import PostgresCancelLedger
from storage.queries.batches import running_batches
from streams import logs
from streams.kafka.producer import DurableProducer, json_record
from streams.poller.poller import Poller
from streams.poller.providers import build_providers
from streams.settings import Settings

log = structlog.get_logger(__name__)

# After SIGTERM the round in progress may finish this long (everything it does is idempotent).
STOP_GRACE_S = 10.0


def poller(
    once: Annotated[bool, typer.Option(help="Poll one round, then exit (for cron and scripts).")] = False,
) -> None:
    """Poll batch providers, publish results, send the cancels owed (ANTHROPIC_API_KEY,
    JOBSTREAM_ANTHROPIC_BASE_URL, OPENAI_API_KEY, JOBSTREAM_OPENAI_BASE_URL, JOBSTREAM_POLL_INTERVAL_S,
    JOBSTREAM_POLL_CONCURRENCY; JOBSTREAM_POLL_TIMEOUT_S per HTTP call)."""
    settings = Settings.from_env()  # a bad value is a ConfigError, reported by main() in one line
    logs.configure(settings.log_level)
    if not asyncio.run(_run(settings, once)):
        typer.echo(
            "error: no batch provider is configured; set ANTHROPIC_API_KEY or OPENAI_API_KEY", err=True
        )
        raise typer.Exit(2)


async def _run(settings: Settings, once: bool) -> bool:
    """False when no provider is configured; else poll until a signal (or one round)."""
    poll_settings = settings.poller
    providers = build_providers(poll_settings)
    if not providers:
        return False
    engine = create_engine(settings.postgres_url, pool_size=2, timeouts=settings.postgres_timeouts)
    producer = DurableProducer(settings.bootstrap_servers, client_id=f"{settings.app_id}-poller")
    topic = settings.topics.batch_results

    async def publish(message: BatchPollResult) -> None:
        await producer.send_all([json_record(topic, message.batch_job_id, message.model_dump(mode="json"))])

    batch_poller = Poller(
        providers,
        functools.partial(running_batches, engine),
        publish,
        poll_settings,
        cancels=PostgresCancelLedger(engine),
    )
    stopper = _SignalStopper(batch_poller)
    try:
        await producer.start()
        if once:
            await batch_poller.poll_once()
        else:
            stopper.install()
            try:
                await batch_poller.run_forever()
            except asyncio.CancelledError:
                stopper.cancelled()  # only our own signal handler cancels this task
    finally:
        stopper.uninstall()
        for provider in providers.values():
            await provider.aclose()
        await producer.stop()
        await engine.dispose()
        log.info("batches.poller_exited", topic=topic)
    return True


class _SignalStopper:
    """First SIGTERM/SIGINT: finish the round in progress, cut short after a grace period; second: now."""

    def __init__(self, batch_poller: Poller) -> None:
        self._poller = batch_poller
        self._task: asyncio.Task[object] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def install(self) -> None:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def uninstall(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        if self._task is not None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    def cancelled(self) -> None:
        """Clear our own cancellation, so the clean-up that follows can still await."""
        if self._task is not None:
            self._task.uncancel()

    def _on_signal(self, signum: int) -> None:
        assert self._task is not None
        if self._deadline is not None:
            self._task.cancel()
            return
        log.info("batches.poller_stopping", signal=signal.Signals(signum).name, grace_s=STOP_GRACE_S)
        self._poller.stop()
        self._deadline = asyncio.get_running_loop().call_later(STOP_GRACE_S, self._task.cancel)

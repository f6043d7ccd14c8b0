"""The bench's own child processes (ceiling, baseline): argv in, run until SIGTERM, log to stdout."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from streams.settings import Settings

PassThrough = Callable[[Settings, str, str, str, asyncio.Event], Awaitable[None]]


def run_child(loop_body: PassThrough) -> None:
    """`python -m <module> SOURCE SINK GROUP`: runs `loop_body` until the bench sends SIGTERM."""
    source, sink, group = sys.argv[1:4]

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await loop_body(Settings.from_env(), source, sink, group, stop)

    asyncio.run(main())

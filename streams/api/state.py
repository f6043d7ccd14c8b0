"""What the API's lifespan opens and every request borrows: engine, producer, Kafka probe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from streams.api.kafka_probe import KafkaProbe
from streams.kafka.producer import DurableProducer
from streams.settings import Settings


@dataclass(frozen=True)
class ApiState:
    settings: Settings
    engine: AsyncEngine
    producer: DurableProducer
    kafka: KafkaProbe


def api_state(request: Request) -> ApiState:
    """FastAPI dependency; the lifespan stored the state on the app before the first request."""
    state: ApiState = request.app.state.jobstream
    return state


State = Annotated[ApiState, Depends(api_state)]

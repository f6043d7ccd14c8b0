"""Engine construction: one place that turns DATABASE_URL into an async SQLAlchemy engine."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """`postgresql://…` (what psql takes) -> the asyncpg dialect SQLAlchemy needs."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(url: str, pool_size: int = 5) -> AsyncEngine:
    return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=5, pool_pre_ping=True)

"""Which failures are outages (retry the batch as it is) and which are the records' own (isolate them)."""

from __future__ import annotations

import asyncpg
from aiokafka import errors as kafka_errors
from sqlalchemy import exc as sa_errors

from storage.exceptions import WriteConflict

# Postgres SQLSTATE classes that say nothing about the statement's data: connection exceptions (08),
# transaction rollbacks — serialization failures and deadlocks (40), insufficient resources (53),
# operator intervention — shutdowns and statement/lock timeouts (57), system errors (58).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# The server's state, not the statement's data, each fixed by waiting or by an operator: lock_timeout
# fired (55P03); a read-only server after a failover (25006); credentials rotated or a grant revoked
# (28000, 28P01, 42501); the database missing (3D000); the schema mid-migration during a rolling deploy
# (42P01, 42703, and 42883: a function of a newer migration, such as the command path's guard); a cached
# plan outdated by a migration (0A000, which the next attempt re-plans).
_TRANSIENT_SQLSTATES = frozenset(
    {"55P03", "25006", "28000", "28P01", "42501", "3D000", "42P01", "42703", "42883", "0A000"}
)
# Kafka refuses these for the record itself; every other Kafka error is the cluster's state.
_RECORD_KAFKA_ERRORS = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.CorruptRecordException,
    kafka_errors.InvalidMessageError,
    kafka_errors.InvalidTimestampError,
)


def is_transient(exc: BaseException) -> bool:
    """True for outages — lost connections, timeouts, broker errors, conflicts with another worker —
    which a retry of the same batch can outlive; False for failures the same input repeats."""
    for cause in _causes(exc):
        if isinstance(cause, WriteConflict | OSError):  # OSError: refused, reset, DNS, TimeoutError
            return True
        if isinstance(cause, asyncpg.PostgresError):
            state = cause.sqlstate or ""
            return state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
        if isinstance(cause, asyncpg.exceptions.OutdatedSchemaCacheError):
            return True  # a migration changed a type under a prepared statement: re-prepared next time
        if type(cause) is asyncpg.InterfaceError:
            return True  # the generic one: a closed connection or pool. Its subclasses (an argument that
            # cannot be encoded, an unsupported feature) are the input's or the code's, not an outage.
        if isinstance(cause, sa_errors.DisconnectionError | sa_errors.TimeoutError):
            return True  # a connection lost, or none free in the pool in time
        if isinstance(cause, sa_errors.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, kafka_errors.KafkaError):
            return not isinstance(cause, _RECORD_KAFKA_ERRORS)
    return False


def is_kafka_retriable(exc: BaseException) -> bool:
    """Stricter than `is_transient`, for a request with no record to narrow a failure to (an admin call
    such as topic creation): only lost connections and what the Kafka client itself marks retriable; an
    answer about the request (a bad config, too few brokers for the replication factor) is raised."""
    return isinstance(exc, OSError) or (isinstance(exc, kafka_errors.KafkaError) and exc.retriable)


def describe(exc: BaseException, limit: int = 1000) -> str:
    """The error as one line for logs and rejection messages, bounded (drivers quote whole values)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (SQLAlchemy's `.orig`, `raise … from`), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return chain

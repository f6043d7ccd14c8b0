"""Which failures are retried as outages and which are narrowed to their records (no services needed)."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import errors as kafka_errors
from sqlalchemy import exc as sa_errors

from storage.exceptions import StorageTimeout, WriteConflict
from streams.failures import describe, is_kafka_retriable, is_transient


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        StorageTimeout("no Postgres connection in time"),
        WriteConflict("a job changed since this batch validated it"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        kafka_errors.KafkaConnectionError("Unable to bootstrap"),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        sa_errors.TimeoutError("QueuePool limit reached"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.exceptions.InvalidPasswordError("password authentication failed"),
        asyncpg.exceptions.InsufficientPrivilegeError("permission denied for table jobs"),
        asyncpg.exceptions.UndefinedTableError('relation "job_rejections" does not exist'),
        asyncpg.exceptions.UndefinedFunctionError(
            "function jobstream_batch_unchanged(text[], integer[], text[], text[]) does not exist"
        ),
        asyncpg.exceptions.InvalidCachedStatementError("cached statement plan is invalid"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_outages_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.ProgramLimitExceededError("index row requires 10040 bytes, maximum size is 8191"),
        asyncpg.exceptions.NumericValueOutOfRangeError("value out of range for type integer"),
        asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.exceptions.DataError("invalid input syntax"),
        asyncpg.exceptions._base.DataError("invalid input for query argument $1: value out of int32 range"),
        kafka_errors.MessageSizeTooLargeError(),
        ValueError("Integer exceeds 64-bit range"),
        TypeError("Recursion limit reached"),
        RecursionError(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_failures_the_input_repeats_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_wrapped_errors_are_judged_by_what_they_wrap() -> None:
    try:
        try:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("closed")
        except asyncpg.PostgresError as inner:
            raise RuntimeError("while writing the batch") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    wrapped = sa_errors.DBAPIError("INSERT …", None, asyncpg.exceptions.ProgramLimitExceededError("too big"))
    assert not is_transient(wrapped)


def test_descriptions_are_one_bounded_line() -> None:
    text = describe(ValueError("value\n" + "x" * 5000))
    assert "\n" not in text and len(text) <= 1000 and text.startswith("ValueError: value x")


@pytest.mark.parametrize(
    ("exc", "retriable"),
    [
        (kafka_errors.NodeNotReadyError("node 1"), True),  # a dead broker still in the bootstrap metadata
        (kafka_errors.RequestTimedOutError(), True),
        (ConnectionRefusedError(), True),
        (kafka_errors.InvalidReplicationFactorError("3 > 1 broker"), False),  # the request's own answer
        (kafka_errors.TopicAuthorizationFailedError(), False),
        (ValueError("a bug"), False),
    ],
)
def test_admin_requests_are_retried_only_on_what_kafka_marks_retriable(
    exc: BaseException, retriable: bool
) -> None:
    assert is_kafka_retriable(exc) is retriable

"""Dead letters (docs/contract.md §6): the original record, unchanged; headers say why and where from."""

from __future__ import annotations

import hashlib
from typing import Protocol

import structlog

from schemas.parsing import DeadLetter
from streams.kafka.producer import OutRecord

log = structlog.get_logger(__name__)


class Consumed(Protocol):
    """What a dead letter keeps of a consumed record; our Record and Faust's Message both fit."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def dead_letter(
    deadletter_topic: str, record: Consumed, code: str, message: str, carry: bool = True
) -> OutRecord:
    """One header layout for every consumer, so operators read any dead letter the same way.

    `carry=False` is the last resort for a record whose dead letter Kafka refused (a compressed record
    can arrive far larger than any message the broker takes uncompressed): its key and value are left
    out (the value is empty), and headers say how big they were and what they hashed to. That one always
    fits.
    """
    headers = [
        ("error.code", code.encode()),
        ("error.message", message[:2000].encode()),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
    key, value = record.key, record.value
    if not carry:
        for name, part in (("key", key), ("value", value)):
            if part is not None:
                headers += [
                    (f"source.{name}.size", str(len(part)).encode()),
                    (f"source.{name}.sha256", hashlib.sha256(part).hexdigest().encode()),
                ]
        key, value = None, b""  # Kafka needs a key or a value: an empty one
    return OutRecord(deadletter_topic, key, value, headers)


def report_dead_letter(deadletter_topic: str, record: Consumed, reason: DeadLetter, event: str) -> OutRecord:
    """The dead letter for a record its consumer cannot use, with the warning (`event`, e.g.
    `command.dead_lettered`) that tells operators why, so no consumer sends one unannounced."""
    log.warning(
        event, code=reason.code, message=reason.message, partition=record.partition, offset=record.offset
    )
    return dead_letter(deadletter_topic, record, reason.code, reason.message)

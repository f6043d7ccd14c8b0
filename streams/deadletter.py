"""Dead letters (spec §6): the original record, unchanged, with headers that say why and where from."""

from __future__ import annotations

from typing import Protocol

from streams.producer import OutRecord


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


def dead_letter(deadletter_topic: str, record: Consumed, code: str, message: str) -> OutRecord:
    """One header layout for every consumer, so operators read any dead letter the same way."""
    headers = [
        ("error.code", code.encode()),
        ("error.message", message.encode()),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
    return OutRecord(deadletter_topic, record.key, record.value, headers)
